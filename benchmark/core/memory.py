"""The memory a network may take, what it takes, and the tile that keeps it there: the one home of
the memory budget, the memory probe and the tile choice, for the built-in networks
(:mod:`benchmark.methods.adapters.tiled`), published models
(:mod:`benchmark.methods.adapters.published`) and ``bench serve``'s catalog alike.

* :func:`memory_budget`: bytes the activations of one forward pass may take: ``BENCH_MEMORY_BUDGET``
  when set (``1.5G``, ``800M``), else 70% of the free GPU memory, or on the CPU 50% of the available
  memory capped at 1 GiB (so that a large frame is tiled on a big machine too, and one method never
  holds gigabytes beside everything else).
* :func:`largest_activation` and :func:`cuda_peak`: a network's cost measured on a probe input
  (the largest output of any of its modules; the CUDA allocator's peak), as one-time work that stays
  out of the run's MAC count.
* :func:`parse_tile` and :func:`choose_tile`: the ``tile=`` setting, and the tile side for frames of a
  size within the budget (None: whole frames).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from benchmark.core import environment
from benchmark.errors import BenchError

CPU_MEMORY_FRACTION = 0.5  # of MemAvailable, for activations
CPU_MEMORY_CAP = 2.0**30  # at most this on the CPU by default (BENCH_MEMORY_BUDGET overrides)
GPU_MEMORY_FRACTION = 0.7  # of the free device memory


def memory_budget(device: str | None) -> float:
    """Bytes the activations of one forward pass may take on ``device`` (see the module docstring)."""
    given = environment.get(environment.MEMORY_BUDGET)
    if given:
        return parse_bytes(given, environment.MEMORY_BUDGET)
    if str(device).startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return GPU_MEMORY_FRACTION * free
    return min(CPU_MEMORY_FRACTION * available_memory(), CPU_MEMORY_CAP)


def parse_bytes(text: str, what: str) -> float:
    """``1.5G``, ``800M``, ``64K`` or a plain number of bytes (binary units)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise BenchError(f"{what}={text!r} is not a memory size: give e.g. 1.5G, 800M or a number of bytes")
    return value


def available_memory() -> float:
    """MemAvailable from /proc/meminfo (Linux), else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4.0 * 2**30


# ----------------------------------------------------------------------------- the probe
def largest_activation(modules: Any, call: Callable[[], Any]) -> tuple[int, Any]:
    """(bytes of the largest output of any of ``modules`` during ``call()``, its result): ``call``
    runs once under ``torch.inference_mode`` as one-time work, out of the run's MAC count."""
    import torch

    from benchmark.run.measure import uncounted

    largest = [0]

    def hook(_module, _inputs, output):
        outs = output if isinstance(output, (tuple, list)) else [output]
        largest[0] = max(largest[0], sum(o.numel() * o.element_size() for o in outs if isinstance(o, torch.Tensor)))

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.inference_mode(), uncounted():
            out = call()
    finally:
        for h in handles:
            h.remove()
    return largest[0], out


def cuda_peak(device: str, call: Callable[[], Any]) -> int:
    """Bytes the CUDA allocator's peak rose by during ``call()`` (one-time work, as above)."""
    import torch

    from benchmark.run.measure import uncounted

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.inference_mode(), uncounted():
        call()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


# ----------------------------------------------------------------------------- the tile
def parse_tile(tile: Any) -> int | None:
    """``tile=`` setting: None/"auto" (choose from memory), 0/"off"/"none"/false (never), or a side >= 16."""
    if tile is None or tile == "auto":
        return None
    if tile in (0, False, "off", "none", "0"):
        return 0
    try:
        side = int(tile)
    except (TypeError, ValueError):
        raise ValueError(f"tile must be auto, off or a number of pixels, got {tile!r}") from None
    if side < 16:
        raise ValueError(f"tile must be at least 16 pixels (or off), got {side}")
    return side


def choose_tile(
    setting: int | None,
    n: int,
    h: int,
    w: int,
    pixels_that_fit: Callable[[], float],
    multiple: int = 1,
    minimum: int = 0,
    overlap: int = 0,
) -> int | None:
    """The tile side for ``n`` frames of ``h`` x ``w`` (None: whole frames, as untiled). ``setting``
    is :func:`parse_tile`'s (0: never tile; a side: that side, on the grid); automatic otherwise,
    from ``pixels_that_fit()`` (input pixels one forward pass may cover, asked only when needed).
    Tiles are multiples of ``multiple`` (the network's grid), at least ``minimum`` and wider than
    twice the ``overlap`` (:func:`benchmark.core.tiling.auto_tile`)."""
    from benchmark.core.tiling import auto_tile

    if setting == 0:
        return None
    m = multiple
    if setting is not None:
        side = max(setting // m * m, minimum, m)
        return None if h <= side and w <= side else side
    fit = pixels_that_fit()
    if n * h * w <= fit:
        return None
    hp, wp = -(-h // m) * m, -(-w // m) * m  # the frame padded onto the grid
    side = auto_tile(fit / n, hp, wp, m, minimum, overlap)
    return None if side is None or (h <= side and w <= side) else side
