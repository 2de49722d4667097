"""``bench enhance`` (a video, image, folder or live source through one method) and ``bench recipe`` (a seed system end to end)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from ..errors import BenchError
from . import _fail, app, console

# the options of `enhance`
_ENHANCE_INPUT = typer.Argument(
    ...,
    help="A video file (anything PyAV reads), an image, or a folder of images; with --realtime also camera:N or /dev/videoN.",
)
_ENHANCE_METHOD = typer.Option(
    ...,
    "--method",
    "-m",
    help="Method name, with settings as name:key=value (e.g. pix2pix:lam=1000), a weights file (.pth, .pt, .safetensors, .ckpt) or a zoo model (`bench models`).",
)
_ENHANCE_OUTPUT = typer.Option(
    None, "--output", "-o", help="Output file or folder (default: INPUT stem + '.METHOD' + .mp4/.png)."
)
_ENHANCE_SCALE = typer.Option(
    None,
    "--scale",
    min=1,
    help="Only for methods that follow any scale (bicubic, lanczos, identity; default 1): the others, weights files included, use their own.",
)
_ENHANCE_CODEC = typer.Option("h264", "--codec", help="h264, hevc or av1.")
_ENHANCE_CRF = typer.Option(18, "--crf", min=0, max=63, help="Encoder quality (lower is better).")
_ENHANCE_PRESET = typer.Option(
    None,
    "--preset",
    help="The encoder's speed preset (x264/x265: ultrafast ... veryslow; default veryfast: 2.5x less encoding CPU than x264's medium; at CRF 18 on bikes x2 the files were the same size).",
)
_ENHANCE_SIDE_BY_SIDE = typer.Option(
    False, "--side-by-side", help="Write input | output (reference | input | output with --reference)."
)
_ENHANCE_REFERENCE = typer.Option(
    None, "--reference", help="With --side-by-side: the undegraded video/image (folder) shown as the first panel."
)
_ENHANCE_BATCH_SIZE = typer.Option(8, "--batch-size", min=1)
_ENHANCE_REALTIME = typer.Option(
    False,
    "--realtime",
    help="Play the input live (a file at its native rate, or a camera), one frame at a time, dropping frames rather than falling behind; report achieved fps, drops and latency.",
)
_ENHANCE_DURATION = typer.Option(
    None,
    "--duration",
    min=0.1,
    help="With --realtime: stop after this many seconds (a camera runs until Ctrl-C otherwise).",
)
_ENHANCE_REPORT = typer.Option(
    None, "--report", help="With --realtime: write the report as JSON here (default: OUTPUT + .realtime.json)."
)
_ENHANCE_DEVICE = typer.Option("auto", "--device")
_ENHANCE_ENGINE = typer.Option(
    None,
    "--engine",
    help="The network's inference engine: auto (default: cuda on a GPU, OpenVINO on a CPU where installed, else eager), eager (PyTorch), openvino ([engine] extra), cuda. Also $BENCH_ENGINE.",
)
_ENHANCE_PRECISION = typer.Option(
    None,
    "--precision",
    help="The engine's precision: f32 (default), bf16 or f16 (faster, other outputs). Also $BENCH_PRECISION.",
)
_ENHANCE_SPEC = typer.Option(
    [],
    "--spec",
    help="TOML spec file naming weights files as methods ([methods.NAME] path = ...); repeatable (also $BENCH_SPECS).",
)
_ENHANCE_FORCE = typer.Option(False, "--force", "-f", help="Overwrite an existing output (never the input).")
_ENHANCE_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


@app.command()
def enhance(
    input: Path = _ENHANCE_INPUT,
    method: str = _ENHANCE_METHOD,
    output: Optional[Path] = _ENHANCE_OUTPUT,
    scale: Optional[int] = _ENHANCE_SCALE,
    codec: str = _ENHANCE_CODEC,
    crf: int = _ENHANCE_CRF,
    preset: Optional[str] = _ENHANCE_PRESET,
    side_by_side: bool = _ENHANCE_SIDE_BY_SIDE,
    reference: Optional[Path] = _ENHANCE_REFERENCE,
    batch_size: int = _ENHANCE_BATCH_SIZE,
    realtime: bool = _ENHANCE_REALTIME,
    duration: Optional[float] = _ENHANCE_DURATION,
    report: Optional[Path] = _ENHANCE_REPORT,
    device: str = _ENHANCE_DEVICE,
    engine: Optional[str] = _ENHANCE_ENGINE,
    precision: Optional[str] = _ENHANCE_PRECISION,
    spec: List[Path] = _ENHANCE_SPEC,
    force: bool = _ENHANCE_FORCE,
    quiet: bool = _ENHANCE_QUIET,
) -> None:
    """Enhance a real video (audio copied through, input frame rate kept), an image or a folder of images, or a live source."""
    from benchmark.run.config import resolve_device
    from benchmark.run.resolve import make_method
    from benchmark.tools.enhance import enhance as run_enhance
    from benchmark.tools.realtime import enhance_realtime

    if realtime and reference is not None:
        _fail(BenchError("--reference is for offline side-by-side output; --realtime shows input | output only"))
    if realtime and preset is not None:
        _fail(BenchError("--preset is for offline output; --realtime encodes at the codec's default preset"))
    if not realtime and (duration is not None or report is not None):
        _fail(BenchError("--duration and --report go with --realtime"))
    if reference is not None and not side_by_side:
        _fail(BenchError("--reference adds a panel to --side-by-side output; pass --side-by-side too"))
    try:
        from benchmark.core.names import Specs

        m = make_method(method, Specs.load([str(p) for p in spec]))
        output = output or _default_output(input, m.name, side_by_side)
        _check_output(
            input, output, force, [report or output.with_name(output.name + ".realtime.json")] if realtime else []
        )
        common = dict(
            scale=scale,
            codec=codec,
            crf=crf,
            side_by_side=side_by_side,
            device=resolve_device(device),
            progress=not quiet,
            engine=engine,
            precision=precision,
        )
        if realtime:
            info = enhance_realtime(input, m, output, duration=duration, **common)
        else:
            info = run_enhance(input, m, output, batch=batch_size, reference=reference, preset=preset, **common)
    except BenchError as exc:
        _fail(exc)
        return
    if realtime:
        _realtime_report(info, report or output.with_name(output.name + ".realtime.json"))
        return
    console.print(
        f"wrote {escape(str(info['output']))}: {info['frames']} frame(s)"
        + (f", {info['fps']:.1f} fps" if "fps" in info else "")
    )


def _default_output(src: Path, method: str, side_by_side: bool) -> Path:
    """INPUT stem + '.METHOD' (+ '.sbs') + .mp4/.png beside the input (a camera's in the working folder)."""
    from benchmark.core.imaging import IMAGE_EXTS
    from benchmark.tools.enhance import is_camera

    stem = str(src).replace(":", "_").replace("/", "_") if is_camera(src) else src.stem
    suffix = "" if src.is_dir() else (".png" if src.suffix.lower() in IMAGE_EXTS else ".mp4")
    kind = ".sbs" if side_by_side else ""  # clip.fast-srgan.mp4 and clip.fast-srgan.sbs.mp4 side by side
    name = method.replace(":", "_").replace("/", "_")
    return (Path.cwd() / stem if is_camera(src) else src).with_name(f"{stem}.{name}{kind}{suffix}")


def _realtime_report(info: dict, path: Path) -> None:
    """``--realtime``'s figures: written to ``path`` (JSON) and said in three lines."""
    try:
        path.write_text(json.dumps(info, indent=2) + "\n")
    except OSError as exc:
        _fail(BenchError(f"--report {path}: cannot write it ({exc.strerror or exc}); the video is at {info['output']}"))
    lat = info["latency_ms"]
    console.print(
        f"wrote {escape(str(info['output']))} and {escape(str(path))}\n"
        f"real time: {info['achieved_fps']:.1f} fps achieved against {info['source_fps']:.2f} fps at the source; "
        f"{info['frames_processed']} of {info['frames_arrived']} frames processed, {info['frames_dropped']} dropped; "
        f"latency p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms"
    )


def _check_output(src: Path, dst: Path, force: bool, extra: list[Path]) -> None:
    """Refuse to write over the input, or over an existing output without --force."""
    from benchmark.core.imaging import IMAGE_EXTS

    if (
        not str(src).startswith(("camera:", "/dev/video"))
        and src.exists()
        and dst.exists()
        and dst.resolve() == src.resolve()
    ):
        raise BenchError(f"output {dst} is the input; choose another with -o")
    if src.is_dir():  # a folder of images: the files that would be written
        names = [p.stem + ".png" for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTS]
        taken = [dst / n for n in names if (dst / n).exists()]
    else:
        taken = [p for p in [dst, *extra] if p.exists()]
    if taken and not force:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise BenchError(f"{taken[0]}{more} exists; pass --force to overwrite, or -o to write elsewhere")


# the options of `recipe`
_RECIPE_NAME = typer.Argument(None, help="Recipe name; omit to list them.")
_RECIPE_OUT = typer.Option(Path("recipes"), "--out", "-o", help="Folder for the recipe's results (OUT/NAME/).")
_RECIPE_MAX_FRAMES = typer.Option(
    None, "--max-frames", min=1, help="Frames per clip (default: the recipe's, listed by `bench recipe`)."
)
_RECIPE_DATA_ROOT = typer.Option(None, "--data-root")
_RECIPE_CACHE_DIR = typer.Option(None, "--cache-dir")
_RECIPE_DEVICE = typer.Option("auto", "--device")
_RECIPE_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
_RECIPE_LIMIT = typer.Option(
    None,
    "--limit",
    min=1,
    help="Recipes on standard sets (rate-savings): at most N items per data set (default: the recipe's).",
)
_RECIPE_DETECTOR = typer.Option(
    None,
    "--detector",
    help="Recipes with detection metrics (rate-savings' COCO part): the detector, as for `bench run` (else $BENCH_DETECTOR).",
)


@app.command()
def recipe(
    name: Optional[str] = _RECIPE_NAME,
    out: Path = _RECIPE_OUT,
    max_frames: Optional[int] = _RECIPE_MAX_FRAMES,
    data_root: Optional[Path] = _RECIPE_DATA_ROOT,
    cache_dir: Optional[Path] = _RECIPE_CACHE_DIR,
    device: str = _RECIPE_DEVICE,
    quiet: bool = _RECIPE_QUIET,
    limit: Optional[int] = _RECIPE_LIMIT,
    detector: Optional[str] = _RECIPE_DETECTOR,
) -> None:
    """Run a seed system end to end with one command: inputs, scores, a comparison video, summary.md."""
    from benchmark.tools.pipelines import PIPELINES, run_pipeline

    from ..reports.leaderboard import print_tables

    if name is None:
        for r in PIPELINES.values():
            console.print(
                f"[bold]{r.name}[/]  {escape(r.title)} ({r.default_frames} frames)\n    {escape(r.description)}"
            )
        return
    try:
        info = run_pipeline(
            name,
            out,
            max_frames=max_frames,
            data_root=str(data_root) if data_root else None,
            cache_dir=str(cache_dir) if cache_dir else None,
            device=device,
            progress=not quiet,
            limit=limit,
            detector=detector,
        )
    except BenchError as exc:
        _fail(exc)
        return
    print_tables(info["summary"], console)
    for n in info["notes"]:
        console.print(f"- {escape(n)}")
    console.print(f"wrote {escape(str(info['out']))}/summary.md, " + ", ".join(escape(f) for f in info["files"]))
