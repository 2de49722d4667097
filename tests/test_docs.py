"""What the docs tell a newcomer to type is right: every `pyproject.toml` snippet in the docs
parses, and the dependencies it names are this project (``bench-enhance``, not the unrelated
PyPI package ``bench``) or packages this project itself depends on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

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
