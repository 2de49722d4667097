"""Throughput and peak memory of ``bench enhance`` on the embedded 1280x720 clip at two lengths.

Memory must stay flat as the clip grows: the script builds the 132-frame bigbuckbunny clip and
a clip ``--repeat`` times longer (the same frames looped, so the per-frame work is identical),
runs ``bench enhance`` on each in a fresh process per method, and prints frames/s inside the
method, wall time and peak RSS (``wait4``'s ``ru_maxrss``), with the long/short RSS ratio (the
named baseline: the same command on the short clip, in the same run).

    python perf/enhance_memory.py                       # identity and tsmooth (multi-frame)
    python perf/enhance_memory.py --method pix2pix --repeat 2
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(dst: Path, repeat: int) -> int:
    import av

    from benchmark.tools.pipelines import embedded_clip

    with av.open(str(embedded_clip("bigbuckbunny"))) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(dst), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt, v.options = 1280, 720, "yuv420p", {"crf": "18", "preset": "ultrafast"}
        for _ in range(repeat):
            for f in frames:
                for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(p)
        for p in v.encode():
            out.mux(p)
    return len(frames) * repeat


def measure(clip: Path, method: str, out: Path, batch: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "enhance",
        str(clip),
        "-m",
        method,
        "-o",
        str(out),
        "-q",
        "--batch-size",
        str(batch),
    ]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    text = p.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{text}")
    m = re.search(r"(\d+) frame\(s\), ([\d.]+) fps", text)
    return {"frames": int(m.group(1)), "fps": float(m.group(2)), "wall_s": wall, "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", action="append", help="method spec (repeatable); default identity and tsmooth")
    ap.add_argument("--repeat", type=int, default=4, help="the long clip is this many loops of the 132 frames")
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args()
    methods = a.method or ["identity", "tsmooth"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lengths = {}
        for name, rep in (("short", 1), ("long", a.repeat)):
            lengths[name] = make_clip(tmp / f"{name}.mp4", rep)
        print(
            f"bench enhance, bigbuckbunny 1280x720 at 25 fps, batch {a.batch_size}, torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}"
        )
        print(
            f"{'method':<22} {'clip':<6} {'frames':>6} {'method fps':>10} {'wall s':>8} {'peak RSS MB':>12} {'RSS long/short':>15}"
        )
        for m in methods:
            res = {}
            for name in ("short", "long"):
                r = res[name] = measure(tmp / f"{name}.mp4", m, tmp / f"out-{name}.mp4", a.batch_size)
                assert r["frames"] == lengths[name], (r, lengths[name])
                ratio = f"{r['rss_mb'] / res['short']['rss_mb']:.3f}" if name == "long" else ""
                print(
                    f"{m:<22} {name:<6} {r['frames']:>6} {r['fps']:>10.1f} {r['wall_s']:>8.1f} {r['rss_mb']:>12.0f} {ratio:>15}"
                )


if __name__ == "__main__":
    main()
