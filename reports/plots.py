"""The site's figures (:mod:`.site`), matplotlib SVGs under ``SITE/plots``: perception against
distortion (PSNR vs NIQE), rate against quality for codec sweeps, per-class AP gain over
identity, the QF predictor's confusion matrix, and speed against quality. Each figure
function returns the entries (title, ``src``) the index page lists; none when the runs lack
its metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .mpltext import NO_MATHTEXT, plain_log_ticks
from .sitedata import ITEM_SCOPES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # text.parse_math off: a method named with '$' is drawn as typed, never as TeX (issue 39); like the other
    # settings here it is set for the process (legends measure their texts when made, not only when saved)
    plt.rcParams.update({"svg.hashsalt": "bench", "figure.dpi": 100, "font.size": 9, **NO_MATHTEXT})
    return plt


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f"plots/{path.name}"


def _means(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    r = df[(df["metric"] == metric) & (df["status"] == "ok") & df["scope"].isin(ITEM_SCOPES + ("dataset",))]
    return r.groupby(["dataset", "base", "degradation", "method"], sort=False)["value"].mean().reset_index()


def _slug(s: str) -> str:
    """A file-name part for a data set or codec name (a path-named set: its folder name)."""
    return re.sub(r"[^\w.-]", "_", Path(s).name or s)[:40]


def perception_distortion(plt, df: pd.DataFrame, site: Path) -> list[dict[str, str]]:
    """PSNR (x) against NIQE (y, lower is better) per method."""
    p, n = _means(df, "psnr"), _means(df, "niqe")
    pd_ = p.merge(n, on=["dataset", "base", "degradation", "method"], suffixes=("_psnr", "_niqe"))
    pd_ = pd_[pd_["value_psnr"] < 99]  # the undegraded reference scores 100 dB by definition
    if pd_.empty:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for method, g in pd_.groupby("method", sort=False):
        ax.scatter(g["value_psnr"], g["value_niqe"], label=method)
        for _, r in g.iterrows():
            ax.annotate(r["dataset"], (r["value_psnr"], r["value_niqe"]), fontsize=6, alpha=0.7)
    ax.set_xlabel("PSNR (dB) → better")
    ax.set_ylabel("NIQE (lower is more natural)")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_title("Perception-distortion")
    return [
        {
            "title": "Perception–distortion (PSNR vs NIQE), per method and data set",
            "src": _save(fig, site / "plots" / "perception-distortion.svg"),
        }
    ]


def _bd_label(method: str, row) -> str:
    """A legend entry: the method and its BD figure against the baseline, or why there is none."""
    if row is None:
        return method
    if pd.isna(row.bd_rate_pct) and pd.isna(row.bd_quality):
        note = str(row.note)
        why = (
            "too few levels"
            if note[:1].isdigit()
            else "not monotonic"
            if "not monotonic" in note
            else "rates not distinct"
            if "rates of" in note
            else "no baseline"
            if "baseline" in note
            else "see the table"
        )
        return f"{method}: no BD figure ({why})"
    rate = "no BD-rate (no overlap)" if pd.isna(row.bd_rate_pct) else f"BD-rate {row.bd_rate_pct:+.1f}%"
    return f"{method}: {rate}, BD-{row.metric} {row.bd_quality:+.3g}"


def baseline_curve(g: pd.DataFrame) -> pd.DataFrame:
    """The baseline's points of one sweep's BD points ``g`` (a row per method and level): every
    level any method has (the first method's figures where several have it), by rate."""
    return g.drop_duplicates("level", keep="first").sort_values("rate")


def rate_quality(plt, df: pd.DataFrame, site: Path, bd=None) -> list[dict[str, str]]:
    """Per base, codec family with 2+ levels and metric of the BD analysis (:mod:`.bdrate`):
    the baseline's and each method's mean quality against the degraded input's rate (bpp or
    kbit/s), each method's BD figure against the baseline in the legend."""
    from .bdrate import analyse, codec_label

    bd = analyse(df) if bd is None else bd
    pts = bd.points
    if pts.empty:
        return []
    out: list[dict[str, str]] = []
    table = bd.table.set_index(["dataset_base", "codec", "metric", "method"])
    for (base, codec, metric), g in pts[~pts["missing_baseline"]].groupby(
        ["dataset_base", "codec", "metric"], sort=False
    ):
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        first = baseline_curve(g)
        ax.plot(
            first["rate"], first["anchor"], marker="s", color="k", ls="--", zorder=5, label=f"{bd.baseline} (baseline)"
        )
        for method, mg in g.groupby("method", sort=False):
            mg = mg.sort_values("rate")
            key = (base, codec, metric, method)
            row = next(table.loc[[key]].reset_index().itertuples()) if key in table.index else None
            ax.plot(mg["rate"], mg["test"], marker="o", label=_bd_label(str(method), row))
        ax.set_xlabel(
            {"bpp": "bits per pixel", "kbit/s": "bitrate (kbit/s)"}.get(g["rate_unit"].iloc[0], "rate")
            + " of the degraded input"
        )
        unit = str(g["unit"].iloc[0] or "")
        ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
        ax.set_title(f"{base}: {metric} against rate ({codec_label(codec)[0]} sweep)")
        ax.legend(fontsize=6.5, title=f"BD against {bd.baseline}, {bd.interpolation}", title_fontsize=6.5)
        out.append(
            {
                "title": f"Rate–quality: {base}, {codec} sweep, {metric} (BD-rate against {bd.baseline} in the legend)",
                "src": _save(fig, site / "plots" / f"rate-{_slug(base)}-{_slug(codec)}-{metric}.svg"),
                "sweep": f"{base}/{codec}",
            }
        )
    return out + plain_rate_quality(plt, df, site, {o["sweep"] for o in out})


def plain_rate_quality(plt, df: pd.DataFrame, site: Path, done: set[str]) -> list[dict[str, str]]:
    """The sweeps (2+ levels) without a BD plot (the baseline was not run on them): each method's
    mean quality against the rate (bpp or bitrate when recorded, else the level), no BD figure."""
    out: list[dict[str, str]] = []
    rows = df[(df["status"] == "ok") & df["scope"].isin(ITEM_SCOPES)]
    for metric in [m for m in ("psnr", "psnr-y", "ssim", "vmaf") if m in set(rows["metric"])][:2]:
        r = rows[rows["metric"] == metric].copy()
        parts = (
            r["degradation"].astype(str).str.extract(r"^(.*?[a-z]+?)(\d+(?:\.\d+)?)$")
        )  # qf{10,20} -> qf; x4-crf{20,30} -> x4-crf
        r["codec"], r["level"] = parts[0], pd.to_numeric(parts[1], errors="coerce")
        for (base, codec), g in r.dropna(subset=["codec", "level"]).groupby(["base", "codec"], sort=False):
            if g["level"].nunique() < 2 or f"{base}/{codec}" in done:
                continue
            rate_col = (
                "bitrate_kbps" if g["bitrate_kbps"].notna().all() else ("bpp" if g["bpp"].notna().all() else None)
            )
            agg = (
                g.groupby(["method", "level"])
                .agg(value=("value", "mean"), rate=(rate_col or "level", "mean"))
                .reset_index()
            )
            fig, ax = plt.subplots(figsize=(5, 3.4))
            for method, mg in agg.groupby("method", sort=False):
                mg = mg.sort_values("rate")
                ax.plot(mg["rate"], mg["value"], marker="o", label=method)
            ax.set_xlabel({"bitrate_kbps": "bitrate (kbit/s)", "bpp": "bits per pixel"}.get(rate_col, f"{codec} level"))
            ax.set_ylabel(metric)
            ax.set_title(f"{base}: {metric} against rate ({codec} sweep; no baseline run, no BD figure)")
            ax.legend(fontsize=7)
            out.append(
                {
                    "title": f"Rate–quality: {base}, {codec} sweep, {metric}",
                    "src": _save(fig, site / "plots" / f"rate-{_slug(base)}-{_slug(codec)}-{metric}.svg"),
                }
            )
    return out


def ap_gains(plt, df: pd.DataFrame, site: Path) -> list[dict[str, str]]:
    """Per-class AP gain bars against identity."""
    out: list[dict[str, str]] = []
    gains = df[(df["status"] == "ok") & df["metric"].astype(str).str.match(r"^(voc-ap50|ap50)-gain/")]
    for (ds, fam), g in gains.assign(fam=gains["metric"].str.split("/").str[0]).groupby(["dataset", "fam"], sort=False):
        t = g.assign(cls=g["metric"].str.split("/", n=1).str[1]).pivot_table(
            index="cls", columns="method", values="value", sort=False
        )
        fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(t) + 1), 3.2))
        t.plot.bar(ax=ax, width=0.8)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel("AP gain over identity")
        ax.set_title(f"{ds}: {fam.removesuffix('-gain')} per class, gain over identity")
        out.append(
            {
                "title": f"Per-class AP gain over identity: {ds} ({fam})",
                "src": _save(fig, site / "plots" / f"gain-{_slug(ds)}-{fam}.svg"),
            }
        )
    return out


def qf_confusion(plt, df: pd.DataFrame, site: Path) -> list[dict[str, str]]:
    """QF-predictor confusion matrix (rows qf-confusion/<true>/<pred> written by a QF predictor)."""
    conf = df[df["metric"].astype(str).str.startswith("qf-confusion/")]
    if conf.empty:
        return []
    parts = conf["metric"].str.split("/", expand=True)
    m = conf.assign(true=parts[1].astype(int), pred=parts[2].astype(int)).pivot_table(
        index="true", columns="pred", values="value", aggfunc="sum", fill_value=0
    )
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(m.to_numpy(), cmap="Blues")
    ax.set_xticks(range(len(m.columns)), m.columns)
    ax.set_yticks(range(len(m.index)), m.index)
    for i in range(len(m.index)):
        for j in range(len(m.columns)):
            ax.text(j, i, f"{m.iat[i, j]:.0f}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted QF")
    ax.set_ylabel("true QF")
    return [{"title": "QF predictor confusion matrix", "src": _save(fig, site / "plots" / "qf-confusion.svg")}]


def speed_quality(plt, df: pd.DataFrame, site: Path) -> list[dict[str, str]]:
    """Frames per second (log) against the primary quality metric, per method."""
    f, q = _means(df, "fps"), _means(df, primary_quality(df))
    sq = f.merge(q, on=["dataset", "base", "degradation", "method"], suffixes=("_fps", "_q"))
    if sq.empty or not primary_quality(df):
        return []
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, g in sq.groupby("method", sort=False):
        ax.scatter(g["value_fps"], g["value_q"], label=method)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)  # with mathtext off, the default log ticks would print their TeX
    ax.set_xlabel("frames per second (log)")
    ax.set_ylabel(primary_quality(df))
    ax.set_title("Speed against quality")
    ax.legend(fontsize=7)
    return [
        {
            "title": f"Speed against quality ({primary_quality(df)})",
            "src": _save(fig, site / "plots" / "speed-quality.svg"),
        }
    ]


FIGURES = (perception_distortion, rate_quality, ap_gains, qf_confusion, speed_quality)


def differences(plt, sig, site: Path) -> list[dict[str, str]]:
    """Per data set: each method's mean paired difference from the baseline with its 95%
    bootstrap interval, one panel per metric (speed left out), the verdict beside each bar."""
    from .significance_view import diff_frame

    d = diff_frame(sig)
    out = []
    for ds, g in d.groupby("dataset", sort=False):
        g = g[~g["metric"].isin(["fps"])]
        metrics = list(dict.fromkeys(g["metric"]))[:6]
        if not metrics:
            continue
        methods = list(dict.fromkeys(g["method_a"]))
        fig, axes = plt.subplots(
            1, len(metrics), figsize=(2.6 * len(metrics) + 1, 0.45 * len(methods) + 1.4), squeeze=False, sharey=True
        )
        for ax, metric in zip(axes[0], metrics):
            mg = g[g["metric"] == metric].set_index("method_a").reindex(methods)
            y = range(len(methods))
            lo, hi = (mg["mean_diff"] - mg["ci_low"]).clip(lower=0), (mg["ci_high"] - mg["mean_diff"]).clip(lower=0)
            ax.errorbar(mg["mean_diff"], y, xerr=[lo.fillna(0), hi.fillna(0)], fmt="o", capsize=3)
            ax.axvline(0, color="grey", lw=0.8)
            for yi, (v, verdict) in enumerate(zip(mg["mean_diff"], mg["verdict"])):
                if isinstance(verdict, str):
                    ax.annotate(verdict, (v, yi), xytext=(0, 6), textcoords="offset points", fontsize=6, ha="center")
            ax.set_title(f"{metric} {'↑' if bool(mg['higher_is_better'].dropna().iloc[0]) else '↓'}", fontsize=8)
            ax.set_yticks(list(y), methods)
            ax.set_ylim(len(methods) - 0.5, -0.5)
        base = sig.baselines.get(str(ds), "the baseline")
        fig.suptitle(f"{ds}: difference from {base} (mean over items, 95% paired bootstrap CI)", fontsize=8, y=1.06)
        out.append(
            {
                "title": f"{ds}: each method against {base}",
                "src": _save(fig, site / "plots" / f"diff-{_slug(str(ds))}.svg"),
                "dataset": str(ds),
                "kind": "significance",
            }
        )
    return out


def plots(df: pd.DataFrame, site: Path, bd=None, sig=None) -> list[dict[str, str]]:
    """All figures the rows allow, in the index page's order (:data:`FIGURES`); ``bd``: the
    BD analysis (:func:`.bdrate.analyse`) the rate-quality legends give (default: against identity)."""
    plt = _plt()
    out: list[dict[str, str]] = []
    for figure in FIGURES:
        out += figure(plt, df, site, bd) if figure is rate_quality else figure(plt, df, site)
    return out + (differences(plt, sig, site) if sig is not None else [])


def primary_quality(df: pd.DataFrame) -> str:
    have = set(df["metric"])
    return next((m for m in ("psnr", "psnr-y", "ssim", "vmaf") if m in have), "")
