"""The plug-in contract is what benchmark.api declares, and the core reads only that; rows and the
environment each have one home. Some of these read the source: the rule is the test."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from benchmark import api, registry
from benchmark.errors import RegistryError
from benchmark.run.results import COLUMNS, Row, make_row, no_values
from benchmark.run.unit import UnitResult

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "methods", "datasets", "reports")
BASES = (api.Plugin, api.Dataset, api.Degradation, api.Method, api.Metric, api.CorpusMetric)


def _sources():
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            yield p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")


def _contract_attributes() -> set[str]:
    """Every attribute the base classes declare for the core to read (data and methods)."""
    names = set()
    for base in BASES:
        names |= set(base.contract)
        names |= {n for n, v in vars(base).items() if not n.startswith("_") and n != "contract"}
    return names - {"__init__"}


# ----------------------------------------------------------------------------- the contract
def test_the_core_never_probes_a_plugin_for_a_contract_attribute():
    attrs = _contract_attributes()
    assert {
        "seeded",
        "makes_float",
        "takes_float",
        "transforms_reference",
        "passthrough",
        "base",
        "window",
        "prepare_reference",
        "kernel_side",
        "network",
        "provenance",
        "registry_name",
        "pyiqa_name",
    } <= attrs
    probe = re.compile(r"\b(getattr|hasattr)\(\s*[^,()]+,\s*[\"'](\w+)[\"']")
    found = [
        f"{path}:{n}: {m.group(0)}"
        for path, text in _sources()
        for n, line in enumerate(text.splitlines(), 1)
        for m in probe.finditer(line)
        if m.group(2) in attrs and "# self" not in line
    ]
    assert not found, "read the declared attribute instead:\n" + "\n".join(found)


def test_every_contract_attribute_is_listed_in_docs_plugins():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    missing = sorted(a for base in BASES for a in base.contract if f"`{a}`" not in doc and f"`{a}()`" not in doc)
    assert not missing, f"docs/plugins.md does not list {missing}"


def test_a_plugin_with_a_wrong_type_is_refused_when_registered_in_one_line_naming_it():
    class Shouty(api.Method):
        name = "shouty"
        scale = "4"

    with pytest.raises(RegistryError) as exc:
        registry.methods.register("shouty")(Shouty)
    msg = str(exc.value)
    assert "method 'shouty'" in msg and "scale = '4' (str)" in msg and "int or None" in msg and "\n" not in msg
    assert "shouty" not in registry.methods

    class NotAMethod:
        name = "x"

    with pytest.raises(RegistryError, match="not a subclass of benchmark.api.Method"):
        registry.methods.register("x")(NotAMethod)

    class Window(api.Method):
        window = (2,)

    assert "window must be (past, future)" in api.contract_problem(api.Method, Window)


def test_a_lazily_registered_plugin_is_checked_when_it_loads(monkeypatch):
    entry = registry.Entry("bad-metric", "tests_contract_helpers:Nope", "entry point of x 1", kind="metrics")
    monkeypatch.setattr(registry.Entry, "load", registry.Entry.load)  # the real load
    import sys
    import types

    mod = types.ModuleType("tests_contract_helpers")

    class Nope(api.Metric):
        kind = "fidelity"

    mod.Nope = Nope
    monkeypatch.setitem(sys.modules, "tests_contract_helpers", mod)
    with pytest.raises(
        RegistryError, match=r"metric 'bad-metric' \(entry point of x 1, .*kind = 'fidelity'.*one of fr, nr"
    ):
        entry.load()


def test_declared_capabilities_follow_the_definitions():
    class Crop(api.Degradation):
        def prepare_reference(self, frame):
            return frame

    class Rnd(api.Degradation):
        seeded = True

    assert Crop.transforms_reference and not api.Degradation.transforms_reference
    assert "with_seed" in api.contract_problem(api.Degradation, Rnd)
    for kind, base in registry.BASES.items():  # every built-in plug-in meets its contract
        for e in registry.REGISTRIES[kind].entries():
            try:
                obj = e.load()
            except RegistryError as exc:
                assert "declares" not in str(exc), str(exc)
                continue
            assert api.contract_problem(base, obj) is None


# ----------------------------------------------------------------------------- rows and unit results
def _row(**kw):
    text = {c: c for c in COLUMNS}  # every column, named after itself, then the typed ones
    return make_row(
        **{**no_values(**text), "frame": 0, "value": 30.0, "higher_is_better": True, "crop_border": 0, **kw}
    )


def test_a_row_has_exactly_the_columns_and_is_not_edited_after_it_is_made():
    r = _row()
    assert list(r) == COLUMNS and isinstance(r, Row)
    with pytest.raises(TypeError, match="not edited"):
        r["value"] = 1.0
    with pytest.raises(TypeError):
        r.update(value=1.0)
    with pytest.raises(ValueError, match="missing .*value"):
        make_row(**{k: v for k, v in r.items() if k != "value"})
    with pytest.raises(ValueError, match="unknown extra"):
        make_row(**r, extra=1)
    again = pickle.loads(pickle.dumps(r))
    assert repr(again) == repr(r) and isinstance(again, Row)  # repr: NaN is not equal to itself
    assert make_row(**{**r, "value": 2.0})["value"] == 2.0 and r["value"] == 30.0


def test_a_unit_result_is_rows_or_a_reason_and_crosses_a_pipe():
    ok = UnitResult(rows=[_row()], failures=[], seconds=1.5, computed=True)
    failed = UnitResult.failed("the worker process died")
    assert (
        ok.error is None and failed.error == "the worker process died" and failed.rows == [] and failed.seconds is None
    )
    assert repr(pickle.loads(pickle.dumps(ok))) == repr(ok)


def test_rows_are_made_in_one_place():
    """No row written as a dict literal (a metric, its value and more of the row's columns) outside
    benchmark/run/results.py: rows come from make_row."""
    found = []
    for path, text in _sources():
        if path == "benchmark/run/results.py":
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                if {"metric", "value"} <= keys and len(keys & set(COLUMNS)) >= 4:
                    found.append(f"{path}:{node.lineno}")
    assert not found, "make these rows with benchmark.run.results.make_row: " + ", ".join(found)


# ----------------------------------------------------------------------------- the environment
def test_bench_variables_are_read_in_the_configuration_module_only():
    home = "benchmark/core/environment.py"
    named, read = [], []
    for path, text in _sources():
        if path == home:
            continue
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"BENCH_[A-Z_]+", node.value)
            ):
                named.append(f"{path}:{node.lineno} {node.value}")
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"os\.(environ|getenv)", line) and not re.search(
                r"THREAD_VARS|\bsaved\b|os\.environ\[v\]|pop\(v", line
            ):
                read.append(f"{path}:{n}: {line.strip()}")
    assert not named, "name the variable through benchmark.core.environment: " + ", ".join(named)
    assert not read, "read the environment through benchmark.core.environment:\n" + "\n".join(read)
