"""What running a method costs, measured: the parameters of its networks, the multiply-accumulates
of a call (torch's ``FlopCounterMode``), the peak memory of a call, and the device a figure
belongs to. No cache and no rows here: :mod:`benchmark.run.stages.cost` puts these into a run.

* Parameters: the elements of every parameter (``Module.parameters()``, never buffers such as
  batch-norm statistics) of the modules ``Method.network()`` names, a parameter shared by two of
  them counted once.
* MACs: while a ``process`` call runs, hooks on the networks' modules note each outermost call
  into them (which module, and the shapes and types of its arguments: nothing is kept alive, and
  no dispatch mode slows the call or changes its memory); afterwards each distinct call is run
  again on ``meta`` tensors (shapes only, no arithmetic) under ``FlopCounterMode``, which counts the
  FLOPs of the matrix products and convolutions (FLOPs = 2 x MACs: one multiply and one add per
  multiply-accumulate; element-wise operations, normalisation and activations are not counted,
  as papers do not count them). Tiles, overlaps and self-ensemble views are each a call, so they
  count; a method's one-time work inside a call (a tiling memory probe) is kept out with
  :func:`uncounted`. A network that cannot run on ``meta`` tensors is run once more on zeros.
* Peak memory: on a CUDA device the peak of ``torch.cuda.max_memory_allocated`` above the
  allocation at the start of the call. On the CPU the peak resident set size (RSS) of the process
  above its level at the start of the call: the C allocator's free memory is first returned to the
  system (glibc ``malloc_trim``) so that what the call allocates shows in the RSS, and the RSS is
  read every millisecond by a watcher thread and once more at the end from the kernel's high-water
  mark (``VmHWM``) when the call raised it; every allocation counts (torch, numpy, OpenCV, tiling
  buffers), and so does what other threads of the process allocate meanwhile.

torch is imported only by the functions that need it, so a run without networks never loads it."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from benchmark.core import environment

COST_ENV = environment.COST
SAMPLE_S = 0.001  # the RSS watcher's period


def cost_enabled(option: bool | None = None) -> bool:
    """Whether a run measures costs: the option (``--cost/--no-cost``) when given, else
    ``$BENCH_COST`` (``0``, ``off``, ``no``, ``false`` turn it off), else on."""
    if option is not None:
        return bool(option)
    return environment.cost()


def networks(method: Any) -> list[Any]:
    """The torch modules ``method.network()`` names (a module, a list, tuple or dict of them, or
    None: the method runs no network). Raises TypeError for anything else."""
    net = method.network()
    if net is None:
        return []
    nets = list(net.values()) if isinstance(net, dict) else list(net) if isinstance(net, (list, tuple)) else [net]
    import torch

    bad = [type(n).__name__ for n in nets if not isinstance(n, torch.nn.Module)]
    if bad:
        raise TypeError(
            f"{method.name}.network() returned {', '.join(bad)}: it must return a torch.nn.Module, "
            "a list or dict of them, or None"
        )
    return nets


def count_params(modules: list[Any]) -> int:
    """Elements of every parameter of ``modules`` (not buffers), each parameter counted once."""
    seen: dict[int, int] = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return int(sum(seen.values()))


# ----------------------------------------------------------------------------- MACs
_STATE = threading.local()


@contextmanager
def uncounted() -> Iterator[None]:
    """Inside a measured ``process`` call: network calls that are not the frame's work (a
    method's one-time probe of its memory per pixel) are left out of the MAC count."""
    from benchmark.core.engine import eager_only

    before = getattr(_STATE, "uncounted", False)
    _STATE.uncounted = True
    try:
        with eager_only():  # a probe watches the layers through hooks: the network runs eagerly
            yield
    finally:
        _STATE.uncounted = before


class _TensorSpec:
    """A tensor argument as a recorded call keeps it: its shape and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any):
        self.shape, self.dtype = shape, dtype

    def __repr__(self) -> str:
        return f"tensor{self.shape}:{self.dtype}"


def _spec(value: Any) -> Any:
    import torch

    return _TensorSpec(tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else value


class CallRecorder:
    """``with CallRecorder(modules) as rec: call()``: the outermost calls into ``modules`` or any of
    their submodules during ``call()``, as (module, argument specs) with how often each came
    (``rec.calls``). A tensor argument is kept as its shape and dtype only."""

    def __init__(self, modules: list[Any]):
        self.modules = {id(m): m for net in modules for m in net.modules()}
        self.calls: dict[tuple[int, str], list[Any]] = {}  # key -> [module, args spec, kwargs spec, count]
        self._depth = 0
        self._handles: list[Any] = []

    def __enter__(self) -> "CallRecorder":
        for m in self.modules.values():
            self._handles.append(m.register_forward_pre_hook(self._enter, with_kwargs=True))
            self._handles.append(m.register_forward_hook(self._leave, always_call=True))
        return self

    def _enter(self, module: Any, args: tuple, kwargs: dict) -> None:
        if self._depth == 0 and not getattr(_STATE, "uncounted", False):
            from torch.utils._pytree import tree_map

            a, k = tree_map(_spec, args), tree_map(_spec, kwargs)
            key = (id(module), repr((a, k)))
            slot = self.calls.setdefault(key, [module, a, k, 0])
            slot[3] += 1
        self._depth += 1

    def _leave(self, module: Any, args: tuple, output: Any) -> None:
        self._depth -= 1

    def __exit__(self, exc_type, exc, tb) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def macs(self) -> float:
        """The multiply-accumulates of the recorded calls: FlopCounterMode's FLOPs / 2 over each
        distinct call run on ``meta`` tensors (or, for a network that cannot, on zeros), times its count."""
        return sum(count * replay_macs(module, a, k) for module, a, k, count in self.calls.values())


def replay_macs(module: Any, args: Any, kwargs: Any) -> float:
    """FlopCounterMode's FLOPs / 2 of ``module`` on arguments of these specs: on ``meta`` tensors
    (no arithmetic), else on zeros on the module's own device."""
    import torch
    from torch.utils._pytree import tree_map
    from torch.utils.flop_counter import FlopCounterMode

    def make(device):
        def tensor(v):
            return torch.zeros(v.shape, dtype=v.dtype, device=device) if isinstance(v, _TensorSpec) else v

        return tree_map(tensor, args), tree_map(tensor, kwargs)

    try:
        state = {
            n: torch.empty_like(t, device="meta") for n, t in [*module.named_parameters(), *module.named_buffers()]
        }
        a, k = make("meta")
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch.func.functional_call(module, state, a, k)
    except Exception:  # noqa: BLE001 - data-dependent code (.item(), nonzero ...): run it for real, on zeros
        device = next((t.device for t in [*module.parameters(), *module.buffers()]), torch.device("cpu"))
        a, k = make(device)
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(*a, **k)
    return counter.get_total_flops() / 2.0


def is_cuda(device: str | None) -> bool:
    return str(device or "").startswith("cuda")


def device_label(device: str | None) -> str:
    """The device a time or memory figure belongs to: ``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    device = str(device or "cpu")
    if is_cuda(device) and "torch" in sys.modules:
        import torch

        try:
            return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
        except Exception:  # noqa: BLE001 - a label only
            return device
    return device


# ----------------------------------------------------------------------------- memory
def rss_bytes() -> int | None:
    """This process's resident set size now, or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - not installed, or not this platform
        return None


def rss_high_water() -> int | None:
    """The kernel's peak RSS of this process (``VmHWM``), or None (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def trim_heap() -> None:
    """Return the C allocator's free memory to the system (glibc), so the next call's allocations show in the RSS."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl, or no libc.so.6
        pass


class PeakMemory:
    """``with PeakMemory(device) as m: call()``: ``m.peak_bytes`` is the call's peak memory above
    the level at its start (None where it cannot be measured, ``m.why`` says why); ``m.how`` names
    the measurement (see the module docstring)."""

    def __init__(self, device: str | None):
        self.device = str(device or "cpu")
        self.peak_bytes: float | None = None
        self.how = ""
        self.why = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._base = 0
        self._max = 0
        self._hwm0: int | None = None

    def __enter__(self) -> "PeakMemory":
        if is_cuda(self.device):
            import torch

            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            self._base = torch.cuda.memory_allocated(dev)
            self.how = "torch.cuda.max_memory_allocated above the allocation at the call's start"
        elif self.device.startswith("cpu"):
            trim_heap()
            base = rss_bytes()
            if base is None:
                self.why = "the resident set size cannot be read on this platform"
                return self
            self._base = self._max = base
            self._hwm0 = rss_high_water()
            self._thread = threading.Thread(target=self._watch, name="bench-peak-rss", daemon=True)
            self._thread.start()
            self.how = f"peak RSS above the level at the call's start (heap trimmed first; sampled every {SAMPLE_S * 1e3:g} ms and VmHWM)"
        else:
            self.why = f"peak memory is measured on cpu and cuda devices, not on {self.device}"
        return self

    def _watch(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            now = rss_bytes()
            if now is not None and now > self._max:
                self._max = now

    def __exit__(self, exc_type, exc, tb) -> None:
        if is_cuda(self.device):
            import torch

            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            self.peak_bytes = float(torch.cuda.max_memory_allocated(dev) - self._base)
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._max, rss_bytes() or 0)
            hwm = rss_high_water()
            if (
                hwm is not None and self._hwm0 is not None and hwm > self._hwm0
            ):  # the call set the process's record: exact
                peak = max(peak, hwm)
            self.peak_bytes = float(max(peak - self._base, 0))
