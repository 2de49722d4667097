"""The inference engine a method's networks run on: the seam between a method's PyTorch modules and
the fastest engine present for the device.

* ``eager``: PyTorch as the method calls it (the reference; always present).
* ``openvino``: on a CPU, each network converted once by OpenVINO (Apache-2.0, the ``[engine]``
  extra) and compiled once per input size, both cached on disk
  (:mod:`benchmark.core.engine_openvino`); at f32 unless a reduced precision is asked for (its CPU
  plugin would pick bf16 by itself on CPUs that have it).
* ``cuda``: PyTorch on the GPU (what ``--device cuda`` always ran).

``auto`` (the default) is ``cuda`` on a GPU, ``openvino`` on a CPU where it is installed, else
``eager``. The seam is the module itself: after a method's ``setup``, :func:`attach` gives each
module its ``network()`` names a forward that hands a plain call (one float32 NCHW CPU tensor,
no gradient) to the engine, and everything else (meta tensors of the cost count, a memory probe
inside :func:`eager_only`, other dtypes and devices, keyword arguments) to the module's own
forward. A network that does not convert runs eagerly, said in one line. So the built-in
networks, spandrel's published models and a plug-in whose ``network()`` returns its modules all
run on the engine without a change to their code.

What a run records: the engine and its precision enter a method's ``version`` (so its rows and
cache keys) as ``+openvino-f32`` and the like, unless the method declares ``engine_exact`` (its
outputs are eager's after rounding to 8 bits: ``tests/test_engine.py`` shows it per shipped model)
and the precision is f32. A reduced precision (``--precision bf16|f16``) is always named.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.core import environment
from benchmark.errors import BenchError

ENGINES = ("auto", "eager", "openvino", "cuda")
PRECISIONS = ("f32", "bf16", "f16")
ALIASES = {"fp32": "f32", "float32": "f32", "fp16": "f16", "half": "f16", "float16": "f16", "bfloat16": "bf16"}
ENV_ENGINE = environment.ENGINE
ENV_PRECISION = environment.PRECISION
ENV_ENGINE_CACHE = environment.ENGINE_CACHE


@dataclass(frozen=True)
class EngineChoice:
    """The engine a run's networks run on, and its precision."""

    name: str = "eager"  # eager | openvino | cuda
    precision: str = "f32"  # f32 | bf16 | f16
    cache_dir: str | None = None  # where converted networks are kept (None: no disk cache)

    @property
    def tag(self) -> str:
        """``openvino-f32``: what a method's version carries when its outputs are not eager's."""
        return f"{self.name}-{self.precision}"

    def with_cache(self, cache_dir: str | Path | None) -> EngineChoice:
        return EngineChoice(self.name, self.precision, str(cache_dir) if cache_dir else None)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "precision": self.precision}


EAGER = EngineChoice()


def openvino_present() -> bool:
    """Whether OpenVINO can be imported here (looked up, not imported: that costs a second)."""
    import importlib.util

    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: blocked
        return False


def choose(engine: str | None, precision: str | None, device: str, cache_dir: str | Path | None = None) -> EngineChoice:
    """The engine for ``device`` (``cpu``, ``cuda:0`` ...): ``engine`` as asked (else ``$BENCH_ENGINE``,
    else ``auto``) and ``precision`` (else ``$BENCH_PRECISION``, else f32). An engine the device or
    this installation cannot run is a :class:`BenchError` saying what to do."""
    name = (engine or environment.get(environment.ENGINE) or "auto").strip().lower()
    prec = (precision or environment.get(environment.PRECISION) or "f32").strip().lower()
    prec = ALIASES.get(prec, prec)
    if name not in ENGINES:
        raise BenchError(f"--engine {name!r}: use one of {', '.join(ENGINES)}")
    if prec not in PRECISIONS:
        raise BenchError(
            f"--precision {prec!r}: use one of {', '.join(PRECISIONS)} (f32 unless you ask: bf16 and f16 change the outputs)"
        )
    gpu = str(device).startswith("cuda")
    if name == "auto":
        name = "cuda" if gpu else ("openvino" if str(device) == "cpu" and openvino_present() else "eager")
    if name == "cuda" and not gpu:
        raise BenchError(
            f"--engine cuda runs on a GPU, and the device is {device}: use --device cuda (or --engine auto)"
        )
    if name == "openvino":
        if str(device) != "cpu":
            raise BenchError(
                f"--engine openvino runs on the CPU, and the device is {device}: use --device cpu (or --engine auto)"
            )
        if not openvino_present():
            raise BenchError(
                "--engine openvino needs OpenVINO: pip install 'bench-enhance[engine]' (or use --engine auto: "
                "eager PyTorch where it is missing)"
            )
    if name == "eager" and gpu:
        name = "cuda"  # eager PyTorch on a GPU is the cuda engine
    return EngineChoice(name, prec, str(cache_dir) if cache_dir else None)


def default_cache_dir() -> Path:
    """Where converted networks are kept outside a run: ``$BENCH_ENGINE_CACHE``, else ``engine/`` in
    bench's cache folder (``$BENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/bench`` or ``~/.cache/bench``)."""
    given = environment.get(environment.ENGINE_CACHE)
    if given:
        return Path(given).expanduser()
    base = environment.get(environment.CACHE_DIR) or os.path.join(
        environment.get(environment.XDG_CACHE_HOME) or os.path.expanduser("~/.cache"), "bench"
    )
    return Path(base).expanduser() / "engine"


# ----------------------------------------------------------------------------- what the rows say
def has_network(method: Any) -> bool:
    """Whether ``method`` runs a network of its own or through its base (known before ``setup``:
    its class overrides ``Method.network``)."""
    from benchmark.api import Method

    if type(method).network is Method.network:
        return False
    base = method.base
    return base is None or has_network(base)


def is_exact(method: Any, choice: EngineChoice) -> bool:
    """Whether ``method``'s outputs on ``choice`` are eager's after rounding (so its version, rows and
    cache keys need not name the engine): eager and the GPU at f32 always (as before engines);
    OpenVINO at f32 for a method that declares ``engine_exact`` (and a base that does)."""
    if choice.precision != "f32":
        return False
    if choice.name in ("eager", "cuda"):
        return True
    base = method.base
    return bool(method.engine_exact) and (base is None or not has_network(base) or is_exact(base, choice))


def settle(method: Any, choice: EngineChoice) -> None:
    """Bind ``method`` to ``choice`` before any key is made: its ``version`` gains the engine's tag
    where the outputs may differ from eager's (see the module docstring). Called once per method
    object (the run's resolve, ``bench enhance``); a method without a network is left as it is."""
    if not has_network(method) or method.engine is not None:
        return
    if method.base is not None:  # its base runs on the engine too: its cached outputs are the engine's
        settle(method.base, choice)
    method.engine = choice
    if not is_exact(method, choice):
        method.version = f"{method.version}+{choice.tag}"


# ----------------------------------------------------------------------------- the seam
_LOCAL = threading.local()
#: seconds a network runs eagerly in a process before it is converted (converting costs one or two
#: seconds of a core: on a small job that is all it would save; a network on disk already starts at once)
WARM_S = 3.0


@contextmanager
def eager_only() -> Iterator[None]:
    """Networks called inside run eagerly (a probe that watches their layers through hooks: an
    engine runs the network as one call, so its layers' hooks would see nothing)."""
    before = getattr(_LOCAL, "eager", False)
    _LOCAL.eager = True
    try:
        yield
    finally:
        _LOCAL.eager = before


def in_eager_only() -> bool:
    return bool(getattr(_LOCAL, "eager", False))


class EngineForward:
    """A module's forward on an engine: a plain call goes to ``backend``, any other to the module's
    own forward. The first failure of the backend (a network that does not convert, a shape it
    cannot take) is said once through ``say`` and the module runs eagerly from then on."""

    def __init__(
        self,
        module: Any,
        backend: Callable[[Any], Any],
        label: str,
        say: Callable[[str], None],
        device_type: str | None,
    ):
        self.module, self.backend, self.label, self.say = module, backend, label, say
        self.device_type = device_type  # the device the backend takes tensors on (None: any)
        self.eager_s = 0.0  # seconds of plain calls run eagerly while the engine was not worth its start
        self.failed: str | None = None

    def __deepcopy__(self, memo: dict) -> None:
        return None  # a copy of the module (OpenVINO converts one) has its own forward

    def eager(self, *args: Any, **kwargs: Any) -> Any:
        return type(self.module).forward(self.module, *args, **kwargs)

    def plain(self, args: tuple, kwargs: dict) -> bool:
        import torch

        if kwargs or len(args) != 1 or self.failed is not None or in_eager_only() or self.module.training:
            return False  # a training module (batch statistics, dropout) runs as PyTorch runs it
        x = args[0]
        return (
            isinstance(x, torch.Tensor)
            and x.device.type == (self.device_type or x.device.type)
            and x.dtype == torch.float32
            and x.dim() == 4
            and not (
                torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.module.parameters()))
            )
        )

    def worth_it(self, x: Any) -> bool:
        """Whether to hand ``x`` to the engine: at once when starting it costs nothing (a network already
        converted, here or on disk), else once the network has run :data:`WARM_S` seconds eagerly in
        this process (a few images never pay for a conversion; a clip does after a batch or two)."""
        ready = getattr(self.backend, "ready", None)
        return self.eager_s >= WARM_S or ready is None or ready(x)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.plain(args, kwargs):
            return self.eager(*args, **kwargs)
        if not self.worth_it(args[0]):
            t0 = time.perf_counter()
            out = self.eager(*args, **kwargs)
            self.eager_s += time.perf_counter() - t0
            return out
        try:
            return self.backend(args[0])
        except Exception as exc:  # noqa: BLE001 - any failure: eager from now on, said once
            from benchmark.errors import error_text

            self.failed = error_text(exc)[:300]
            self.say(f"engine: {self.label} runs in eager PyTorch ({self.failed})")
            return self.eager(*args, **kwargs)


def networks_of(method: Any) -> list[Any]:
    """The torch modules ``method.network()`` names (none for a method without one)."""
    net = method.network()
    if net is None:
        return []
    return list(net.values()) if isinstance(net, dict) else list(net) if isinstance(net, (list, tuple)) else [net]


def attach(method: Any, choice: EngineChoice | None = None, say: Callable[[str], None] | None = None) -> int:
    """After ``method.setup``: its networks on ``choice`` (else the one :func:`settle` bound, else
    eager). Returns how many modules now run on an engine; calling it again changes nothing."""
    import torch

    choice = choice or method.engine or EAGER
    say = say or _say
    count = 0
    for i, module in enumerate(networks_of(method)):
        if not isinstance(module, torch.nn.Module) or isinstance(module.__dict__.get("forward"), EngineForward):
            continue
        label = f"{method.name}" + (f" network {i + 1}" if i else "")
        backend = _backend(module, choice, label, say)
        if backend is None:
            continue
        module.forward = EngineForward(module, backend, label, say, "cpu" if choice.name == "openvino" else None)
        count += 1
    return count


def detach(method: Any) -> None:
    """Every network of ``method`` back on its own forward."""
    for module in networks_of(method):
        if isinstance(module.__dict__.get("forward"), EngineForward):
            del module.__dict__["forward"]


def prepare(
    method: Any, device: str, choice: EngineChoice | None = None, say: Callable[[str], None] | None = None
) -> None:
    """``method.setup(device)`` and its networks on the engine (``bench enhance``, ``bench serve``)."""
    method.setup(device)
    attach(method, choice, say)


def _backend(module: Any, choice: EngineChoice, label: str, say: Callable[[str], None]) -> Callable[[Any], Any] | None:
    """What a plain call of ``module`` runs on ``choice`` (None: its own forward, nothing to wrap)."""
    if choice.name == "openvino":
        from benchmark.core.engine_openvino import OpenVINONetwork

        return OpenVINONetwork(module, choice.precision, choice.cache_dir, label, say)
    if choice.precision == "f32":
        return None  # eager and cuda at f32: the module as it is
    return _autocast(module, choice)


def _autocast(module: Any, choice: EngineChoice) -> Callable[[Any], Any]:
    """The module's own forward under torch's autocast at the reduced precision, output in float32."""
    import torch

    dtype = torch.bfloat16 if choice.precision == "bf16" else torch.float16

    def run(x):
        with torch.autocast(device_type=x.device.type, dtype=dtype):
            return type(module).forward(module, x).float()

    return run


def _say(line: str) -> None:
    import sys

    try:
        print(line, file=sys.stderr, flush=True)
    except (
        ValueError,
        OSError,
    ):  # stderr closed under a thread that outlived its console: the line is lost, never the work
        pass
