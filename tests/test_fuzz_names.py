"""Property tests (Hypothesis) of the data-set name grammar and of spec files (issue 39): whatever a
name or a spec file says, resolving it gives a result or one BenchError (one line: the CLI prints
it as `error:`), never another exception, and writes nothing anywhere."""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.core.names import Specs, expand, resolve
from benchmark.errors import BenchError

BASES = ["live1", "set5", "set14", "classic5", "kodak", "vid4", "coco", "photos", "clips", "bsd200-pan", "cbsd68"]
TOKENS = [
    "qf20",
    "qf0",
    "qf101",
    "x2",
    "x4",
    "x0",
    "crf35",
    "crf-1",
    "qp46",
    "gray",
    "grayfull",
    "noise25",
    "noise-3",
    "bd3",
    "dn3",
    "blur2",
    "realx4",
    "hevccrf30",
    "qf20s444pil",
    "x2-crf35",
    "{10,20}",
    "{",
    "}",
    "{,}",
    "{1..3}",
    "@",
    ":type=frames",
    "~",
    "..",
    "/",
    "$HOME",
    "\x1b[2J",
    "\u202e",
    "",
    "-",
]
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def names() -> st.SearchStrategy[str]:
    grammar = st.builds(
        lambda b, ts, sep: b + "".join(sep + t for t in ts),
        st.sampled_from(BASES),
        st.lists(st.sampled_from(TOKENS), max_size=4),
        st.sampled_from(["-", "@", ""]),
    )
    noise = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Cc", "Zs"]), max_size=40)
    return st.one_of(grammar, noise, st.builds(lambda a, b: a + b, grammar, noise))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working folder, HOME and cache inside tmp_path; returns a function listing every file under tmp_path."""
    for d in ("cwd", "home", "cache"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    monkeypatch.delenv("BENCH_SPECS", raising=False)
    return lambda: sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


def one_line(exc: BenchError) -> None:
    text = str(exc)
    assert text and "Traceback" not in text and len(text) < 4000, text


@SETTINGS
@given(name=names())
def test_any_name_resolves_or_is_one_error(sandbox, name):
    before = sandbox()
    try:
        for n in expand(name)[:20]:
            resolve(n, None)
    except BenchError as exc:
        one_line(exc)
    assert sandbox() == before


# ----------------------------------------------------------------------------- spec files
KEYS = st.one_of(
    st.sampled_from(
        [
            "path",
            "type",
            "fps",
            "description",
            "chain",
            "name",
            "tile",
            "overlap",
            "precision",
            "input",
            "qf",
            "crf",
            "scale",
            "sigma",
            "paht",
        ]
    ),
    st.text(min_size=1, max_size=8),
)
SCALARS = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["qf20", "x2", "a", "b", "a-b", "jpeg", "h264", "../..", "/dev/zero", "~"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_text(tables: dict[str, dict[str, dict]]) -> str:
    lines = []
    for kind, entries in tables.items():
        for name, d in entries.items():
            lines.append(f"[{kind}.{json.dumps(name)}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in d.items()]
    return "\n".join(lines) + "\n"


ENTRY_NAMES = st.one_of(
    st.sampled_from(["a", "b", "mine", "live1", "qf20", "identity", "x2"]), st.text(min_size=1, max_size=8)
)
SPEC = st.dictionaries(
    st.sampled_from(["datasets", "degradations", "methods", "other"]),
    st.dictionaries(ENTRY_NAMES, st.dictionaries(KEYS, VALUES, max_size=4), max_size=3),
    max_size=3,
)


@SETTINGS
@given(
    spec=SPEC,
    name=st.one_of(
        ENTRY_NAMES, st.builds(lambda b, d: f"{b}-{d}", st.sampled_from(["set5", "a", "mine"]), ENTRY_NAMES)
    ),
    garbage=st.one_of(st.just(""), st.text(max_size=30)),
)
def test_any_spec_file_loads_and_resolves_or_is_one_error(sandbox, tmp_path, spec, name, garbage):
    path = tmp_path / "cwd" / "spec.toml"
    path.write_text(toml_text(spec) + garbage, encoding="utf-8")
    before = sandbox()
    try:
        resolve(name, None, Specs.load([path]))
    except BenchError as exc:
        one_line(exc)
    assert sandbox() == before


def test_the_fuzzers_reach_both_outcomes(sandbox, tmp_path):
    """The properties are not vacuous: good names and specs resolve, bad ones are errors."""
    assert resolve("live1-qf20", None).degradation == "qf20"
    with pytest.raises(BenchError):
        resolve("live1-qg20", None)
    path = tmp_path / "cwd" / "spec.toml"
    path.write_text(toml_text({"degradations": {"mine": {"chain": "qf20-x2"}}}))
    assert resolve("set5-mine", None, Specs.load([path])).degradation
    path.write_text(toml_text({"degradations": {"a": {"chain": "b"}, "b": {"chain": "a"}}}))
    with pytest.raises(BenchError, match=re.escape("cycle")):
        resolve("set5-a", None, Specs.load([path]))
    assert os.path.exists(path)


def test_a_home_folder_of_no_such_user_is_one_error(sandbox):
    """'~0' (found by the property above) raised pathlib's RuntimeError: now one line naming the path."""
    for name in ("~0", "~nosuchuser/photos@qf20"):
        with pytest.raises(BenchError, match="names no home folder here"):
            resolve(name, None)
