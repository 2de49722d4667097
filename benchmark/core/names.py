"""Data-set names: ``<base>-<degradation>[-<degradation>...]`` or ``PATH[@<degradations>]``.

Examples: ``live1-qf20``, ``live1-gray-qf10``, ``set5-x4``, ``vid4-crf35``, ``kodak-x2-qf30``,
``./photos@qf20``, ``clip.mp4@crf35``, ``./frames@x4``, ``./CBSD68@qf20:type=images`` (a folder's
type is guessed, and said, unless ``:type=images|frames|videos`` gives it). Braces expand to sweeps:
``vid4-crf{20,25,30}`` is three data sets. A spec file (TOML) adds named folders and
named degradations without code::

    [datasets.mine]          # then: bench run --dataset mine-qf20
    path = "/data/mine"      # absolute, or relative to the spec file
    type = "auto"            # images | frames | videos | auto

    [degradations.lowq]      # then: --dataset live1-lowq
    chain = "qf5s444"        # tokens joined by '-'

    [methods.esrgan]         # then: bench run -m bicubic,esrgan (a published model's weights file)
    path = "~/models/RealESRGAN_x4plus.pth"   # absolute, ~, or relative to the spec file
    tile = 512               # optional settings: tile, overlap, precision
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import registry
from benchmark.api import Dataset, Degradation
from benchmark.core import environment
from benchmark.core.imaging import check_regular
from benchmark.core.paths import expand as expand_path
from benchmark.errors import BenchError, RegistryError

ENV_SPECS = environment.SPECS
#: the most data sets the brace groups of one name may expand to (counted before expanding)
MAX_EXPANDED = 1000
#: the deepest a spec file's tables and arrays, a JSON setting, or spec degradations naming spec
#: degradations may nest (a reader recursing on what a file says would end in a RecursionError)
MAX_SPEC_DEPTH = 32


def nesting_depth(value: Any) -> int:
    """How deep dicts and lists nest in ``value`` (a scalar: 0), found without recursion."""
    depth, level = 0, [value]
    while level:
        level = [v for x in level if isinstance(x, (dict, list)) for v in (x.values() if isinstance(x, dict) else x)]
        depth += 1
        if depth > MAX_SPEC_DEPTH + 1:
            break
    return depth - 1


def check_depth(value: Any, what: str) -> Any:
    """``value``, or a BenchError naming ``what`` when it nests deeper than :data:`MAX_SPEC_DEPTH`."""
    if nesting_depth(value) > MAX_SPEC_DEPTH:
        raise BenchError(
            f"{what} is nested deeper than {MAX_SPEC_DEPTH} levels (tables and arrays within each other); "
            "nothing bench reads needs more"
        )
    return value


@dataclass
class Specs:
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    degradations: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, paths: list[str | os.PathLike] | None = None) -> "Specs":
        specs = cls()
        all_paths = [Path(p) for p in (paths or [])]
        all_paths += [Path(p) for p in environment.spec_files()]
        for p in all_paths:
            specs.add_file(p)
        return specs

    def add_file(self, path: Path) -> None:
        data = _read_spec(path)
        for name, d in data.get("datasets", {}).items():
            p = expand_path(d["path"])
            if not p.is_absolute():
                p = (path.parent / p).resolve()
            self._add("datasets", name, {**d, "path": str(p), "origin": f"spec file {path}"})
        for name, d in data.get("degradations", {}).items():
            self._add("degradations", name, {**d, "origin": f"spec file {path}"})
        for name, d in data.get("methods", {}).items():
            p = expand_path(d["path"])
            self._add(
                "methods",
                name,
                {
                    **d,
                    "path": str(p if p.is_absolute() else (path.parent / p).resolve()),
                    "origin": f"spec file {path}",
                },
            )
        self.files.append(str(path))

    def _add(self, kind: str, name: str, d: dict[str, Any]) -> None:
        table = getattr(self, kind)
        reg = registry.REGISTRIES[kind]
        if name in table:
            raise RegistryError(
                f"{kind[:-1]} {name!r} is defined twice: in {table[name]['origin']} and in {d['origin']}"
            )
        if kind in ("datasets", "methods") and name in reg:
            raise RegistryError(
                f"{kind[:-1]} {name!r} in {d['origin']} collides with {reg.entry(name).origin} {name!r}"
            )
        table[name] = d


#: the keys of a spec file's entries (a degradation with ``type`` also takes its class's settings)
SPEC_KEYS = {
    "datasets": ("path", "type", "fps", "description"),
    "degradations": ("chain", "type", "description"),
    "methods": ("path", "name", "tile", "overlap", "precision", "input"),
}
_NEEDS = {"datasets": ("path",), "degradations": ("chain", "type"), "methods": ("path",)}


def nearest(key: str, known: list[str] | tuple[str, ...]) -> str:
    """``"did you mean 'x'? "`` for the known name closest to ``key`` (difflib), or ``""``."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}? " if close else ""


def read_toml(path: Path, what: str, missing: str = "does not exist") -> dict[str, Any]:
    """The tables of the TOML file ``path``, or a BenchError that names it (as ``what``: "spec
    file", "--config") and says why it cannot be read: missing, a folder, not UTF-8, not TOML."""
    if not path.exists():
        raise BenchError(f"{what} {path} {missing}")
    if path.is_dir():
        raise BenchError(f"{what} {path} is a folder; pass the TOML file itself")
    try:
        check_regular(path)
    except ValueError as exc:
        raise BenchError(f"{what} {exc}") from None
    try:
        return check_depth(tomllib.loads(path.read_bytes().decode("utf-8")), f"{what} {path}")
    except RecursionError:
        raise BenchError(
            f"{what} {path} is nested deeper than {MAX_SPEC_DEPTH} levels (tables and arrays within each "
            "other); nothing bench reads needs more"
        ) from None
    except OSError as exc:
        raise BenchError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise BenchError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{what} {path} is not valid TOML: {exc}") from None


def _read_spec(path: Path) -> dict[str, Any]:
    """A spec file's tables, checked: readable UTF-8 TOML, known sections and keys, values of the right type."""
    data = read_toml(path, "spec file")
    for section, entries in data.items():
        if section not in SPEC_KEYS:
            raise BenchError(
                f"spec file {path}: unknown section [{section}]; {nearest(section, tuple(SPEC_KEYS))}"
                f"known: {', '.join(f'[{k}.NAME]' for k in SPEC_KEYS)}"
            )
        if not isinstance(entries, dict) or not all(isinstance(d, dict) for d in entries.values()):
            raise BenchError(
                f"spec file {path}: [{section}] holds tables, one per name ([{section}.NAME] with key = value lines)"
            )
        for name, d in entries.items():
            _check_entry(path, section, name, d)
    return data


def _check_entry(path: Path, kind: str, name: str, d: dict[str, Any]) -> None:
    where = f"spec file {path}: [{kind}.{name}]"
    needs = _NEEDS[kind]
    if not any(k in d for k in needs):
        raise BenchError(
            f"{where} needs {'a ' if kind == 'datasets' else ''}{' or '.join(repr(k) for k in needs)}"
            + (" (a weights file)" if kind == "methods" else "")
        )
    known: list[str] | None = list(SPEC_KEYS[kind])
    if kind == "degradations" and "type" in d and "chain" not in d:
        settings = _degradation_settings(where, d["type"])
        known = None if settings is None else known + settings
    for key in d:
        if known is not None and key not in known:
            raise BenchError(f"{where}: unknown key {key!r}; {nearest(key, known)}known: {', '.join(known)}")
    for key in ("path", "chain", "type", "name", "precision", "description", "input"):
        if key in d and not isinstance(d[key], str):
            raise BenchError(f"{where}: {key} = {d[key]!r} should be a string (in quotes)")
    if kind == "datasets" and d.get("type", "auto") not in FOLDER_TYPES:
        raise BenchError(f"{where}: type = {d['type']!r}; use one of {', '.join(FOLDER_TYPES)}")
    if (
        kind == "datasets"
        and "fps" in d
        and (isinstance(d["fps"], bool) or not isinstance(d["fps"], (int, float)) or d["fps"] <= 0)
    ):
        raise BenchError(f"{where}: fps = {d['fps']!r} should be a positive number of frames per second")
    for key in ("tile", "overlap"):
        if key in d and (isinstance(d[key], bool) or not isinstance(d[key], (int, str))):
            raise BenchError(f"{where}: {key} = {d[key]!r} should be a whole number")


def _degradation_settings(where: str, type_name: Any) -> list[str] | None:
    """The settings a ``type = "..."`` degradation takes (its class's constructor arguments)."""
    import inspect

    if not isinstance(type_name, str) or type_name not in registry.degradations:
        known = registry.degradations.names()
        raise BenchError(
            f"{where}: unknown degradation type {type_name!r}; {nearest(str(type_name), known)}known: {', '.join(known)}"
        )
    params = list(inspect.signature(registry.degradations.get(type_name).__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None  # takes any setting: the class checks them
    return [p.name for p in params]


@dataclass
class DatasetSpec:
    """A resolved data-set name: a base data set and a degradation chain."""

    name: str
    base: str
    dataset: Dataset
    chain: list[Degradation]

    @property
    def degradation(self) -> str:
        return "-".join(d.label() for d in self.chain) or "none"

    @property
    def scale(self) -> int:
        return math.prod(d.scale for d in self.chain)

    def check_size(self, item_id: str, w: int, h: int) -> None:
        """BenchError (before any work) when a step's kernel is larger than the image it meets:
        ``w`` x ``h`` cropped to the scale grid, reduced by the steps before it."""
        s = self.scale
        w, h = w - w % s, h - h % s
        for d in self.chain:
            side = d.kernel_side()
            if side > min(w, h):
                raise BenchError(
                    f"data set {self.name!r}: the {side}x{side} kernel of {d.label()!r} is larger than item "
                    f"{item_id!r} ({w}x{h} where it applies); allowed here: a kernel of at most {min(w, h)} px "
                    "(a smaller sigma, length or kN)"
                )
            w, h = w // d.scale, h // d.scale

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.dataset.describe(),
            "degradation": self.degradation,
            "chain": [d.describe() for d in self.chain],
        }


def expand(name: str) -> list[str]:
    """Brace expansion for sweeps: ``vid4-crf{20,25}`` -> ``vid4-crf20``, ``vid4-crf25``. The data sets
    are counted before they are expanded: more than :data:`MAX_EXPANDED` is a BenchError."""
    parts = re.split(r"(\{[^{}]*\})", name)
    options = [p[1:-1].split(",") if p.startswith("{") and p.endswith("}") else [p] for p in parts]
    count = math.prod(len(o) for o in options)
    if count > MAX_EXPANDED:
        groups = "x".join(str(len(o)) for o in options if len(o) > 1)
        shown = name if len(name) <= 120 else name[:117] + "..."
        raise BenchError(
            f"data set name {shown!r}: its brace groups expand to {groups} = {count:,} data sets, "
            f"at most {MAX_EXPANDED:,} are allowed per name; sweep fewer values, or over several -d"
        )
    return ["".join(c) for c in itertools.product(*options)]


def _looks_like_path(name: str) -> bool:
    return "@" in name or name.startswith((".", "/", "~")) or os.sep in name or Path(name).exists()


def degradation_examples() -> list[str]:
    out = []
    for e in registry.degradations.entries():
        try:
            out += list(e.load().examples)
        except RegistryError:
            pass
    return out


def parse_token(token: str, specs: Specs, within: tuple[str, ...] = ()) -> list[Degradation]:
    """The degradations of one token; ``within``: the spec degradations whose chains led here (a
    cycle among them, or more than :data:`MAX_SPEC_DEPTH`, is a BenchError naming them)."""
    if token in specs.degradations:
        d = specs.degradations[token]
        path = " -> ".join((*within, token))
        if token in within:
            raise BenchError(
                f"degradation {token!r} ({d['origin']}): the chains of spec degradations make a cycle, {path}; "
                "a degradation cannot contain itself"
            )
        if len(within) >= MAX_SPEC_DEPTH:
            raise BenchError(
                f"degradation {within[0]!r}: spec degradations nested deeper than {MAX_SPEC_DEPTH} levels "
                f"({' -> '.join(within[:3])} -> ... -> {token})"
            )
        if "chain" in d:
            return [x for t in str(d["chain"]).split("-") for x in parse_token(t, specs, (*within, token))]
        params = {k: v for k, v in d.items() if k not in ("type", "origin", "description")}
        cls = registry.degradations.get(d["type"])
        try:
            return [cls(**params)]
        except (TypeError, ValueError) as exc:
            raise BenchError(f"degradation {token!r} ({d['origin']}): {exc}") from None
    matches = []
    for entry in registry.degradations.entries():
        try:
            cls = entry.load()
        except RegistryError:
            continue
        try:
            deg = cls.match(token)
        except (ValueError, TypeError) as exc:
            raise BenchError(f"degradation token {token!r} ({entry.name}): {exc}") from exc
        if deg is not None:
            matches.append((entry.name, deg))
    if len(matches) > 1:
        raise RegistryError(
            f"degradation token {token!r} is claimed by several plug-ins: {', '.join(n for n, _ in matches)}"
        )
    if not matches:
        known = degradation_examples() + sorted(specs.degradations)
        close = _one_edit_fixes(token, specs) or difflib.get_close_matches(token, known, n=2, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise BenchError(
            f"unknown degradation {token!r}.{hint} Known forms: {', '.join(known)} "
            "(qfN JPEG, gray (JPEG Y 16-235) or grayfull (0-255), xN bicubic downscale, crfN/qpN/kbpsN H.264, hevccrfN ...; "
            "`bench list degradations`)."
        )
    return [matches[0][1]]


def _parses(token: str, specs: Specs) -> bool:
    if token in specs.degradations:
        return True
    for entry in registry.degradations.entries():
        try:
            if entry.load().match(token) is not None:
                return True
        except (RegistryError, ValueError, TypeError):
            continue
    return False


def _one_edit_fixes(token: str, specs: Specs) -> list[str]:
    """Tokens one edit away from ``token`` that parse: a character deleted (``qf20x`` -> ``qf20``)
    or a letter replaced (``qg20`` -> ``qf20``). The number is kept, which a string-similarity
    match over the listed examples (``qf10``, ``qf20s444`` ...) loses."""
    deletions = [token[:i] + token[i + 1 :] for i in reversed(range(len(token)))]
    letters = "abcdefghijklmnopqrstuvwxyz"
    substitutions = [
        token[:i] + c + token[i + 1 :]
        for i in range(len(token))
        if token[i].isalpha()
        for c in letters
        if c != token[i]
    ]
    seen: list[str] = []
    for cand in deletions + substitutions:
        if cand and cand not in seen and _parses(cand, specs):
            seen.append(cand)
    return seen[:2]


def resolve(name: str, root: Path | None, specs: Specs | None = None, **dataset_params: Any) -> DatasetSpec:
    specs = specs or Specs()
    name = name.strip()
    if not name:
        raise BenchError("empty data-set name")
    if _looks_like_path(name) and not _is_registered_name(name, specs):
        from benchmark.datasets.base import FolderDataset

        path, _, after = name.rpartition("@") if "@" in name else (name, "", "")
        p = expand_path(path)
        if not p.exists():
            raise BenchError(
                f"data set path {p} does not exist (a name with '@' or '/' is read as PATH@DEGRADATIONS[:type=...])"
            )
        degs, folder_type = _path_settings(name, after)
        dataset: Dataset = FolderDataset(root, path=p, type=folder_type, name=str(path), **dataset_params)
        tokens = [t for t in degs.split("-") if t]
        base = str(path)
    else:
        parts = name.split("-")
        base = ""
        for i in range(len(parts), 0, -1):
            cand = "-".join(parts[:i])
            if cand in specs.datasets or cand in registry.datasets:
                base, tokens = cand, parts[i:]
                break
        else:
            known = sorted(set(registry.datasets.names()) | set(specs.datasets))
            close = difflib.get_close_matches(parts[0], known, n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise BenchError(
                f"unknown data set {name!r}: no known base in it.{hint} Known bases: {', '.join(known)}. "
                f"Degradations: {', '.join(degradation_examples())}. "
                "A path also works: PATH@qf20."
            )
        if base in specs.datasets:
            from benchmark.datasets.base import FolderDataset

            d = specs.datasets[base]
            dataset = FolderDataset(
                root, path=d["path"], type=d.get("type", "auto"), fps=d.get("fps"), name=base, **dataset_params
            )
        else:
            dataset = registry.datasets.get(base)(root, **dataset_params)
    chain = [d for t in tokens for d in parse_token(t, specs)]
    return DatasetSpec(name=name, base=base, dataset=dataset, chain=chain)


FOLDER_TYPES = ("images", "frames", "videos", "auto")


def _path_settings(name: str, after: str) -> tuple[str, str]:
    """``qf20:type=images`` -> (``qf20``, ``images``): after the ``@`` of a path come the
    degradations and, separated by ``:``, settings (``type=images|frames|videos|auto``)."""
    degs, folder_type = [], "auto"
    for part in (x for x in after.split(":") if x):
        key, sep, value = part.partition("=")
        if not sep:
            degs.append(part)
        elif key == "type" and value in FOLDER_TYPES:
            folder_type = value
        else:
            raise BenchError(
                f"data set {name!r}: unknown setting {part!r}; after PATH@DEGRADATIONS only "
                f"':type=' with one of {', '.join(FOLDER_TYPES)} is known (e.g. ./photos@qf20:type=images)"
            )
    return "-".join(degs), folder_type


def _is_registered_name(name: str, specs: Specs) -> bool:
    first = name.split("-")[0]
    return "@" not in name and "/" not in name and (first in registry.datasets or first in specs.datasets)
