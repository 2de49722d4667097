"""What the docs tell a newcomer to type is right: every `pyproject.toml` snippet in the docs
parses, and the dependencies it names are this project (``bench-enhance``, not the unrelated
PyPI package ``bench``) or packages this project itself depends on; the plug-in of
docs/plugins.md, built from its two snippets as written, installs and runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pandas as pd
from packaging.requirements import Requirement

from conftest import install_plugin

ROOT = Path(__file__).resolve().parents[1]


def toml_snippets() -> list[tuple[str, dict]]:
    out = []
    for doc in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        for block in re.findall(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S):
            if "[project]" in block:
                out.append((doc.name, tomllib.loads(block)))
    return out


def test_every_pyproject_snippet_depends_on_this_project_by_its_name():
    own = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    known = {own["name"]} | {Requirement(r).name for r in own["dependencies"]}
    snippets = toml_snippets()
    assert len(snippets) >= 2  # docs/plugins.md and docs/methods.md
    for doc, data in snippets:
        deps = [Requirement(r).name for r in data["project"].get("dependencies", [])]
        assert own["name"] in deps, f"{doc}: a plug-in's pyproject must depend on {own['name']!r}, not {deps}"
        assert set(deps) <= known, f"{doc}: {sorted(set(deps) - known)} is not this project or one of its dependencies"


def test_the_plugin_of_docs_plugins_md_installs_and_runs(tmp_path, image_folder):
    """docs/plugins.md's pyproject.toml and class, copied as a reader would, make ``invert`` a method."""
    import subprocess
    import sys

    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    pyproject = re.findall(r"```toml\n(.*?)```", text, flags=re.S)[0]
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    pkg = tmp_path / "src"
    (pkg / "my_package").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(pyproject)
    (pkg / "my_package" / "__init__.py").write_text(code)
    env = install_plugin(pkg, tmp_path / "site")
    out = tmp_path / "run"
    ran = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "run", "-q", "-m", "identity,invert"]
        + ["-d", f"{image_folder}@qf50", "--metrics", "psnr", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    means = pd.read_parquet(out / "scores.parquet").groupby("method")["value"].mean()
    assert means["invert"] < means["identity"] - 10
