"""Codec sweeps: the codec stage and level of a degradation chain (``qf20``, ``x2-crf30``), how a
report names them (``JPEG``/``QF 20``, ``x2 + H.264``/``CRF 30``), and each sweep's rate-quality
points (:func:`curves`), from which :mod:`.bdrate` computes its figures."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_RC = re.compile(r"^(?P<pre>[a-z0-9]*?)(?P<rc>qf|crf|qp|kbps)(?P<level>\d+(?:\.\d+)?)(?P<post>[a-z0-9]*)$")

_RC_LEVELLESS = re.compile(r"^(?P<pre>[a-z0-9]*?)(?P<rc>qf|crf|qp|kbps)(?P<post>(?:s\d{3})?[a-z]*)$")

_CODECS = {
    "qf": ("JPEG", "QF"),
    "crf": ("H.264", "CRF"),
    "qp": ("H.264", "QP"),
    "kbps": ("H.264", "kbit/s"),
    "hevccrf": ("HEVC", "CRF"),
    "hevcqp": ("HEVC", "QP"),
    "hevckbps": ("HEVC", "kbit/s"),
    "h265crf": ("HEVC", "CRF"),
    "h265qp": ("HEVC", "QP"),
    "h264crf": ("H.264", "CRF"),
    "h264qp": ("H.264", "QP"),
}


def sweep_of(degradation: str) -> tuple[str, float] | None:
    """(codec, level) of a degradation chain with one codec stage: ``qf20`` -> ("qf", 20),
    ``x2-crf30`` -> ("x2-crf", 30); None for a chain without one (``x4``, ``none``)."""
    stages = str(degradation).split("-")
    hits = [(i, m) for i, s in enumerate(stages) if (m := _RC.match(s))]
    if len(hits) != 1:
        return None
    i, m = hits[0]
    codec = "-".join(stages[:i] + [m["pre"] + m["rc"] + m["post"]] + stages[i + 1 :])
    return codec, float(m["level"])


def codec_label(codec: str) -> tuple[str, str]:
    """("JPEG", "QF") for ``qf``; other stages of a chain are named before it ("x2 + H.264", "CRF")."""
    stages = codec.split("-")
    hits = [(i, m) for i, s in enumerate(stages) if (m := _RC_LEVELLESS.match(s))]
    if len(hits) != 1:
        return codec, "level"
    i, m = hits[0]
    family, knob = _CODECS.get(m["pre"] + m["rc"], (m["pre"] + m["rc"], "level"))
    family += f" ({m['post']})" if m["post"] else ""
    return " + ".join(stages[:i] + [family] + stages[i + 1 :]), knob


def level_text(codec: str, level: float) -> str:
    """``QF 10``, ``CRF 27``, ``2000 kbit/s``: a level as its codec names it (to the nearest integer)."""
    knob = codec_label(codec)[1]
    return f"{level:.0f} kbit/s" if knob == "kbit/s" else f"{knob} {level:.0f}"


#: the metric families a BD figure is given for: full-reference and task metrics
FAMILIES = ("fidelity", "perceptual", "task")

_SCOPES = ("image", "clip")


def bd_metrics(df: pd.DataFrame) -> list[str]:
    """The metrics a BD figure is given for: full-reference and task metrics (not no-reference,
    temporal, speed or subjective ones), without per-class rows or gains over identity."""
    from .sitedata import metric_family

    names = [str(m) for m in dict.fromkeys(df["metric"].dropna())]
    return [
        m
        for m in names
        if "/" not in m
        and not m.endswith("-gain")
        and not m.startswith("qf-confusion")
        and metric_family(m) in FAMILIES
    ]


def _rates(rows: pd.DataFrame) -> tuple[pd.Series, str] | None:
    """Per (dataset, item): the degraded input's rate, and its column; None where not recorded."""
    items = rows[rows["scope"].isin(_SCOPES)]
    for col in ("bitrate_kbps", "bpp"):
        if len(items) and items[col].notna().all():
            return items.groupby(["dataset", "item_id"])[col].mean(), col
    return None


def _item_points(r: pd.DataFrame, rate: pd.Series, baseline: str) -> pd.DataFrame:
    """Per method, metric and level: mean quality of the method and of the baseline over their
    common items, and the mean rate of those items."""
    piv = r.pivot_table(
        index=["metric", "level", "dataset", "item_id"], columns="method", values="value", aggfunc="mean"
    )
    if baseline not in piv.columns:
        return pd.DataFrame()
    piv = piv.join(rate.rename("rate"), on=["dataset", "item_id"])
    out = []
    for method in [m for m in piv.columns if m not in (baseline, "rate")]:
        both = piv[piv[method].notna() & piv[baseline].notna()]
        g = both.groupby(["metric", "level"]).agg(
            test=(method, "mean"), anchor=(baseline, "mean"), rate=("rate", "mean"), n=(method, "size")
        )
        out.append(g.reset_index().assign(method=method))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _corpus_points(r: pd.DataFrame, rate: pd.Series, baseline: str) -> pd.DataFrame:
    """Corpus metrics (mAP ...): one value per level and method; the rate over all the set's items."""
    per_set = rate.groupby(level="dataset").agg(["mean", "size"])
    piv = r.pivot_table(index=["metric", "level", "dataset"], columns="method", values="value", aggfunc="mean")
    if baseline not in piv.columns:
        return pd.DataFrame()
    out = []
    for method in [m for m in piv.columns if m != baseline]:
        both = piv[piv[method].notna() & piv[baseline].notna()].reset_index()
        both = both.join(per_set, on="dataset")
        out.append(
            pd.DataFrame(
                {
                    "metric": both["metric"],
                    "level": both["level"],
                    "test": both[method],
                    "anchor": both[baseline],
                    "rate": both["mean"],
                    "n": both["size"],
                    "method": method,
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def curves(df: pd.DataFrame, baseline: str = "identity") -> pd.DataFrame:
    """The points of every sweep: one row per (dataset_base, codec, metric, method, level) with
    the method's (``test``) and the baseline's (``anchor``) mean quality over their common
    items, the mean rate of those items (``rate``, ``rate_unit``), ``n`` items, the metric's
    direction and unit. Sweeps without a baseline have rows with ``method`` = None."""
    ok = df[(df["status"] == "ok")]
    metrics = bd_metrics(ok)
    sw = {d: sweep_of(d) for d in ok["degradation"].dropna().unique()}
    ok = ok[ok["degradation"].map(lambda d: sw.get(d) is not None)]
    if ok.empty or not metrics:
        return pd.DataFrame()
    ok = ok.assign(codec=ok["degradation"].map(lambda d: sw[d][0]), level=ok["degradation"].map(lambda d: sw[d][1]))
    meta = ok.drop_duplicates("metric").set_index("metric")[["higher_is_better", "unit"]].fillna({"unit": ""})
    out = []
    for (base, codec), g in ok.groupby(["base", "codec"], sort=False):
        if g["level"].nunique() < 2:
            continue
        rated = _rates(g[g["method"] == baseline] if (g["method"] == baseline).any() else g)
        if rated is None:  # not a codec (no bits recorded): no rate axis
            continue
        rate, col = rated
        r = g[g["metric"].isin(metrics)]
        pts = pd.concat(
            [
                _item_points(r[r["scope"].isin(_SCOPES)], rate, baseline),
                _corpus_points(r[r["scope"] == "dataset"], rate, baseline),
            ],
            ignore_index=True,
        )
        if pts.empty:
            others = [m for m in dict.fromkeys(g["method"]) if m != baseline]
            pts = pd.DataFrame(
                [
                    {
                        "metric": x,
                        "level": np.nan,
                        "method": m,
                        "test": np.nan,
                        "anchor": np.nan,
                        "rate": np.nan,
                        "n": 0,
                    }
                    for m in others
                    for x in dict.fromkeys(r["metric"])
                ]
            )
            pts["missing_baseline"] = True
        out.append(pts.assign(dataset_base=base, codec=codec, rate_unit={"bpp": "bpp", "bitrate_kbps": "kbit/s"}[col]))
    if not out:
        return pd.DataFrame()
    res = pd.concat(out, ignore_index=True).join(meta, on="metric")
    if "missing_baseline" not in res:
        res["missing_baseline"] = False
    res["missing_baseline"] = res["missing_baseline"].fillna(False).astype(bool)
    order = {m: i for i, m in enumerate(dict.fromkeys(df["method"]))}  # methods and metrics as the run lists them
    morder = {m: i for i, m in enumerate(metrics)}
    res = res.assign(_m=res["method"].map(order), _x=res["metric"].map(morder))
    return (
        res.sort_values(["dataset_base", "codec", "_x", "_m", "rate"], kind="stable")
        .drop(columns=["_m", "_x"])
        .reset_index(drop=True)
    )
