"""What the paired comparisons (issue 34) add to ``bench report``: seconds of the leaderboard
with them against the leaderboard without them, over the same runs, in one process.

    python perf/report_significance.py RUN [RUN ...] [--repeats 5]

Baseline ("means only"): ``summarize`` with an empty significance result, i.e. the tables as
they were before the issue (means, counts, leader). Measured: ``analyse`` (paired bootstrap with
2,000 resamples, Wilcoxon, Holm, P(best)) + ``summarize`` + the Markdown of both. The figure is
the best of ``--repeats``; the target is under 2 s added for the LIVE1 sweep (5 levels x 3
methods x 29 images).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()

    from benchmark.reports import leaderboard, significance, significance_view

    df = leaderboard.load_runs(a.runs)
    empty = significance.analyse(df.iloc[:0])
    items = df[df["scope"].isin(significance.ITEM_SCOPES)]
    print(
        f"{len(df):,} rows; {items['dataset'].nunique()} data sets, {items['method'].nunique()} methods, "
        f"{items['metric'].nunique()} metrics, {items.groupby('dataset')['item_id'].nunique().max()} items at most per set"
    )

    def before():
        leaderboard.to_markdown(leaderboard.summarize(df, sig=empty))

    def after():
        sig = significance.analyse(df)
        leaderboard.to_markdown(leaderboard.summarize(df, sig=sig))
        significance_view.markdown(sig)

    t0, t1 = best_of(before, a.repeats), best_of(after, a.repeats)
    sig = significance.analyse(df)
    print(
        f"means only (baseline): {t0:.3f} s; with paired comparisons: {t1:.3f} s; added {t1 - t0:.3f} s "
        f"({t1 / t0:.1f}x) for {len(sig.pairs)} comparisons; target: under 2 s added"
    )


if __name__ == "__main__":
    main()
