"""The methods ``bench serve`` offers, each with what it is for (its task), its one-line description,
and what it accepts: the largest upload and the output size it makes, and how it keeps within memory.

Listed once per app (:meth:`.state.AppState.methods`), before the server listens (:mod:`.app`'s lifespan):
loading every method's class imports torch and the networks' code, the slow part of the first page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import BenchError

#: what each built-in method is for (the Enhance page's first words about it)
TASKS = {
    "identity": "baseline: the input as it is",
    "bicubic": "baseline: resize by any scale",
    "lanczos": "baseline: resize by any scale",
    "ssim": "JPEG artifact removal",
    "gan": "JPEG artifact removal",
    "pix2pix": "H.264 artifact removal",
    "h264": "H.264/HEVC artifact removal",
    "fast-srgan": "x2 super-resolution (real time)",
    "srresnet": "x4 super-resolution",
    "srgan": "x4 super-resolution",
    "videoboost": "x5 super-resolution",
    "tsmooth": "video: temporal smoothing of a frame method",
}
#: the measured peak memory of the resizers through the server's enhance path, over the server's own (perf/serve_memory.py,
#: docs/serve.md's table "Memory per method"): method -> (output pixels of the measured job, peak RSS - before, in MiB)
MEASURED = {
    "lanczos": (8192 * 8192, 841),  # x2 of 4096x4096
    "bicubic": (4096 * 4096, 579),  # x2 of 2048x2048, per channel in bands of rows
}


def _measured(name: str) -> str:
    """``about N bytes per output pixel (about G GB for 4096x4096 out)``, from :data:`MEASURED`."""
    pixels, mib = MEASURED[name]
    per_pixel = mib * 2**20 / pixels
    return (
        f"about {per_pixel:.0f} bytes per output pixel (about {per_pixel * 4096 * 4096 / 1e9:.1f} GB for 4096x4096 out)"
    )


#: built-in methods that are no network, and their memory (whole pictures: measured by perf/serve_memory.py)
PLAIN = {
    "identity": "no network: a few copies of the picture",
    "lanczos": f"no network (Pillow, 8 bits): {_measured('lanczos')}",
    "bicubic": f"no network, per channel in bands of rows: {_measured('bicubic')}",
}


def task_of(name: str, scale: int | None, window: tuple[int, int]) -> str:
    """A method's task: the built-ins' from :data:`TASKS`, a plug-in's from its scale and window."""
    if name in TASKS:
        return TASKS[name]
    if tuple(window) != (0, 0):
        return "video: multi-frame"
    if scale is None:
        return "resize by any scale"
    return f"x{scale} super-resolution" if scale > 1 else "restoration"


def sizes(scale: int | None, max_pixels: int) -> str:
    """What a method accepts and makes: the pixel limit of an upload and the output it means."""
    side = int(max_pixels**0.5)
    limit = f"{side}x{side}" if side * side == max_pixels else f"{max_pixels:,} pixels"
    if scale is None:
        return f"input times the scale you choose (1-8), up to {limit} per image or frame, input and output"
    if scale == 1:
        return f"input up to {limit} per image or frame; output the same size"
    out = f"{side * scale}x{side * scale}" if side * side == max_pixels else f"{max_pixels * scale * scale:,} pixels"
    return f"input up to {limit} per image or frame; output x{scale}, up to {out}"


def memory(name: str, kind: str, budget_mb: float) -> str:
    """How a method keeps within memory."""
    if name in PLAIN:
        return PLAIN[name]
    if name == "tsmooth":
        return "its base method's (identity by default); a network base is tiled"
    if kind == "method" and name not in TASKS:
        return "a plug-in: as its own code does"
    return (
        f"tiled: the network's activations stay within a memory budget of {budget_mb:.0f} MiB (BENCH_MEMORY_BUDGET), "
        "so any accepted size runs; the whole input and output pictures come on top"
    )


def _budget_mb() -> float:
    from benchmark.core.memory import memory_budget
    from benchmark.run.config import resolve_device

    return memory_budget(resolve_device("auto")) / 2**20


def available_methods(specs: list[str], max_pixels: int = 4096 * 4096) -> list[dict[str, Any]]:
    """Every method the app offers: registry methods that load, zoo models whose files are
    on disk, and weights files named in spec files ([methods.NAME]); each with its task, sizes and memory."""
    from benchmark import registry
    from benchmark.core.names import Specs
    from benchmark.files import zoo

    out = []
    for e in registry.methods.entries():
        try:
            cls = e.load()
        except BenchError:
            continue
        scale, window = cls.scale, tuple(cls.window)
        out.append(
            {
                "name": e.name,
                "kind": "method",
                "scale": scale,
                "description": cls.description,
                "window": list(window),
                "origin": e.origin,
                "task": task_of(e.name, scale, window),
            }
        )
    for m in zoo.MODELS:
        if zoo.local_path(m).is_file():
            out.append(
                {
                    "name": m.name,
                    "kind": "zoo",
                    "scale": m.scale,
                    "description": f"{m.architecture} ({m.task}, {m.license})",
                    "window": [0, 0],
                    "origin": "zoo",
                    "task": m.task,
                }
            )
    for name, entry in Specs.load(specs).methods.items():
        if not any(o["name"] == name for o in out):
            scale = entry.get("scale")
            out.append(
                {
                    "name": name,
                    "kind": "weights file",
                    "scale": scale,
                    "description": Path(entry["path"]).name,
                    "window": [0, 0],
                    "origin": entry.get("origin", "spec file"),
                    "task": task_of(name, scale or 1, (0, 0)),
                }
            )
    budget = _budget_mb()
    for m in out:
        m["sizes"] = sizes(m["scale"], max_pixels)
        m["memory"] = memory(m["name"], m["kind"], budget)
    return out
