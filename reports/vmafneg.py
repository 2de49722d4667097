"""VMAF against VMAF NEG: a warning when a method gains on VMAF but not on VMAF NEG.

VMAF credits enhancement: sharpening and contrast changes raise it over the reference's own
score (Netflix/vmaf#489, #1102), which is exactly what enhancement methods do. libvmaf's
``vmaf_v0.6.1neg`` model ("no enhancement gain") does not. So when a method's VMAF gain over
the baseline (``identity``: the decoded input) is not matched by a gain on VMAF NEG, the VMAF
gain is mostly enhancement gain, and a report should say so beside the number.

Reads the tidy rows (``scores.parquet`` of one run or several merged); computes nothing that
is not in them. :func:`vmaf_neg_warnings` compares mean paired gains per data set,
:func:`bd_warnings` the BD-rates of ``bench report``'s / ``rate-savings``' BD table.
"""

from __future__ import annotations

import pandas as pd

BASELINE = "identity"
#: a VMAF gain below this many points is not worth a warning
MIN_GAIN = 1.0
#: warn when VMAF NEG keeps less than this share of the VMAF gain
KEPT = 0.5
#: a BD-rate saving at equal VMAF smaller than this (percent of bits) is not worth a warning
MIN_SAVING = 2.0
WHY = (
    "the VMAF gain is mostly enhancement (sharpening, contrast) that VMAF NEG does not credit (Netflix/vmaf#489, #1102); "
    "compare methods on vmaf-neg"
)


def vmaf_neg_warnings(rows: pd.DataFrame, baseline: str = BASELINE) -> list[str]:
    """One sentence per (data set, method) whose mean VMAF gain over ``baseline`` (paired over
    the items both scored) is at least :data:`MIN_GAIN` points while its VMAF NEG gain keeps
    less than :data:`KEPT` of it. Empty without both metrics or without the baseline."""
    need = {"dataset", "method", "metric", "item_id", "scope", "status", "value"}
    if rows is None or rows.empty or not need <= set(rows.columns):
        return []
    r = rows[
        (rows["status"] == "ok") & rows["scope"].isin(("clip", "image")) & rows["metric"].isin(("vmaf", "vmaf-neg"))
    ]
    if r.empty or set(r["metric"]) != {"vmaf", "vmaf-neg"} or baseline not in set(r["method"]):
        return []
    piv = r.pivot_table(index=["dataset", "item_id", "metric"], columns="method", values="value", aggfunc="mean")
    out = []
    for dataset in dict.fromkeys(r["dataset"]):
        d = piv.xs(dataset, level="dataset")
        for method in (
            m for m in dict.fromkeys(r[r["dataset"] == dataset]["method"]) if m != baseline and m in d.columns
        ):
            gains = {}
            for metric in ("vmaf", "vmaf-neg"):
                if metric not in d.index.get_level_values("metric"):
                    break
                pair = d.xs(metric, level="metric")[[method, baseline]].dropna()
                if pair.empty:
                    break
                gains[metric] = float((pair[method] - pair[baseline]).mean())
            if len(gains) < 2:
                continue
            g, n = gains["vmaf"], gains["vmaf-neg"]
            if g >= MIN_GAIN and n < KEPT * g:
                out.append(f"{method} on {dataset}: {g:+.1f} VMAF over {baseline} but {n:+.1f} on VMAF NEG: {WHY}.")
    return out


def bd_warnings(bd: pd.DataFrame) -> list[str]:
    """From a BD table (columns dataset_base, codec, method, metric, bd_rate_pct): a sentence
    per method that saves at least :data:`MIN_SAVING` % of bits at equal VMAF while at equal
    VMAF NEG it saves less than :data:`KEPT` of that, or costs bits."""
    if bd is None or bd.empty or not {"dataset_base", "codec", "method", "metric", "bd_rate_pct"} <= set(bd.columns):
        return []
    out = []
    for (base, codec, method), g in bd.groupby(["dataset_base", "codec", "method"], sort=False):
        v = g.set_index("metric")["bd_rate_pct"]
        if "vmaf" not in v or "vmaf-neg" not in v or pd.isna(v["vmaf"]) or v["vmaf"] > -MIN_SAVING:
            continue
        if pd.isna(v["vmaf-neg"]) or v["vmaf-neg"] >= 0 or v["vmaf-neg"] > KEPT * v["vmaf"]:
            neg = "no figure" if pd.isna(v["vmaf-neg"]) else f"{v['vmaf-neg']:+.1f}%"
            out.append(
                f"{method} on {base} ({codec}): {v['vmaf']:+.1f}% bits at equal VMAF but {neg} at equal VMAF NEG: {WHY}."
            )
    return out
