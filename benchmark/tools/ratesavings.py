"""The ``rate-savings`` recipe's sets and its summary (``bench recipe rate-savings``): how many
bits each shipped restorer saves against the plain codec (``identity``) at equal quality, as
Bjøntegaard-delta rate (:mod:`benchmark.reports.bdrate`), on LIVE1 JPEG QF 10..50, Vid4 H.264
CRF 20..40 (PSNR, SSIM, VMAF and VMAF NEG, with a warning where a method saves bits at equal VMAF but not at
equal VMAF NEG) and COCO JPEG QF 10..50 (mAP50: bits saved at equal detection accuracy).

The recipe body lives in :mod:`benchmark.tools.pipelines` with the other recipes; this module holds
what is particular to it: which sweep, methods, metrics and item limits, and the summary's
BD sections and headline sentences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class RateSet:
    key: str
    title: str
    dataset: str
    methods: list[str]
    metrics: tuple[str, ...]
    limit: int | None = None  # items (None: all); `bench recipe --limit` overrides it
    needs_detector: bool = False


RESTORERS = ["identity", "ssim", "gan", "pix2pix:lam=1000"]
RATE_SETS = (
    RateSet("live1", "LIVE1 JPEG QF 10-50", "live1-qf{10,20,30,40,50}", RESTORERS, ("psnr", "ssim")),
    RateSet(
        "vid4",
        "Vid4 H.264 CRF 20-40",
        "vid4-crf{20,25,30,35,40}",
        RESTORERS[:3] + ["tsmooth:base=gan", RESTORERS[3]],
        ("psnr", "ssim", "vmaf", "vmaf-neg"),
    ),
    RateSet(
        "coco", "COCO JPEG QF 10-50", "coco-qf{10,20,30,40,50}", RESTORERS[:3], ("psnr", "map50"), needs_detector=True
    ),
)


def headline(bd: pd.DataFrame, base: str, codec: str) -> str:
    """One sentence of a sweep's BD-rates: 'live1, JPEG: ssim -21% on psnr, -20% on ssim; gan ...'."""
    from benchmark.reports.bdrate import codec_label

    parts = []
    g = bd[(bd["dataset_base"] == base) & (bd["codec"] == codec)]
    for method, mg in g.groupby("method", sort=False):
        vals = [
            f"{r.bd_rate_pct:+.1f}% on {r.metric}" if pd.notna(r.bd_rate_pct) else f"none on {r.metric} (see the note)"
            for r in mg.itertuples()
        ]
        parts.append(f"{method} {', '.join(vals)}")
    return f"{base}, {codec_label(codec)[0]}: " + "; ".join(parts)


def rate_summary(r: Any, rows: pd.DataFrame) -> None:
    """Add the BD analysis of the recipe's rows to its summary: a sentence per sweep in the
    notes (printed too), the BD tables and the equal-quality tables as sections, bdrate.csv."""
    from benchmark.reports import bdrate
    from benchmark.reports.leaderboard import bd_markdown

    if rows.empty:
        return
    res = bdrate.analyse(rows)
    bdrate.write_csv(res.table, r.out / "bdrate.csv")
    r.files.append(str(r.out / "bdrate.csv"))
    r.notes.append(f"Bits saved at equal quality (BD-rate against identity; negative = fewer bits): {res.convention}.")
    for base, codec in res.sweeps():
        r.notes.append(headline(res.table, base, codec))
    from benchmark.reports.vmafneg import bd_warnings

    r.notes += [f"Warning: {w}" for w in bd_warnings(res.table)]
    items = rows[rows["scope"].isin(("image", "clip"))].groupby("base")["item_id"].nunique()
    frames = rows[rows["scope"] == "frame"].groupby(["base", "item_id"])["frame"].nunique().groupby("base").max()
    said = [
        f"{b}: {n} items" + (f" (at most {int(frames[b])} frames each)" if b in frames else "")
        for b, n in items.items()
    ]
    r.notes.append("Run on " + "; ".join(said) + ".")
    r.sections.append(bd_markdown(res))
