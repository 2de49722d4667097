"""A static leaderboard site from any set of runs: ``bench report --html SITE RUN...`` and
``bench publish SITE RUN...`` (adds runs to an existing site and rebuilds it).

Everything is self-contained and works from ``file://``: no CDN, one small inline script
(sortable columns, metric-family filter, synchronised zoom). All text from runs and
plug-ins goes through Jinja2's autoescaping.

Layout::

    SITE/index.html                 leaderboards (per data set), plots, paper tables, downloads
    SITE/compare/<n>.html           one page per shown item: reference | degraded | methods
    SITE/img/<key>-<frame>.png      images copied from the cache (content-addressed)
    SITE/plots/*.svg                matplotlib figures
    SITE/tables/*.md, *.tex         paper tables
    SITE/data/runs/<run_id>/        each run's scores.parquet/.csv, manifest.json, artifacts.json
    SITE/data/scores.csv, .parquet  all runs merged (latest run wins for a repeated value)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cache import frames_dir
from ..errors import BenchError
from ..results import read_scores
from .leaderboard import fmt

FAMILIES = ("fidelity", "perceptual", "no-reference", "task", "temporal", "subjective", "speed")
#: rows written by `bench study results` (benchmark.serve.study), not computed by `bench run`
SUBJECTIVE = ("mos", "dmos", "bt-score", "mos-raters")
NOT_RANKED = ("mos-raters",)  # a count of raters, not a quality
ITEM_SCOPES = ("image", "clip")
BOOTSTRAP = 1000
RUN_FILES = ("scores.parquet", "scores.csv", "manifest.json", "artifacts.json")


# ----------------------------------------------------------------------------- data
def metric_family(name: str) -> str:
    from .. import registry

    base = name.split("/", 1)[0]
    if base.endswith("-gain"):
        return "task"
    base = base.removesuffix("-refcap")
    if base in SUBJECTIVE:
        return "subjective"
    try:
        return getattr(registry.metrics.get(base), "family", "fidelity") or "fidelity"
    except Exception:  # a plug-in that is not installed here: keep its rows, guess nothing
        return "other"


def copy_runs(site: Path, run_dirs: list[Path]) -> list[str]:
    runs = site / "data" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    ids = []
    for d in run_dirs:
        d = Path(d)
        if not (d / "scores.parquet").exists() and not (d / "scores.csv").exists():
            raise BenchError(f"{d}: not a run directory (no scores.parquet or scores.csv); run `bench run` first")
        manifest = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").exists() else {}
        run_id = str(manifest.get("run_id") or d.name)
        if not re.fullmatch(r"[\w.-]+", run_id):
            run_id = re.sub(r"[^\w.-]", "_", run_id)
        dst = runs / run_id
        dst.mkdir(exist_ok=True)
        for f in RUN_FILES:
            if (d / f).exists():
                shutil.copy2(d / f, dst / f)
        ids.append(run_id)
    return ids


def load_site_runs(site: Path) -> tuple[pd.DataFrame, dict[str, dict], dict[str, dict]]:
    """All runs kept in the site: merged rows (latest run wins), manifests, artifacts."""
    frames, manifests, artifacts = [], {}, {}
    for d in sorted((site / "data" / "runs").iterdir()):
        if not d.is_dir():
            continue
        m = json.loads((d / "manifest.json").read_text()) if (d / "manifest.json").exists() else {}
        manifests[d.name] = m
        if (d / "artifacts.json").exists():
            artifacts[d.name] = json.loads((d / "artifacts.json").read_text())
        df = read_scores(d)
        df["_started"] = m.get("started", "")
        frames.append(df)
    if not frames:
        raise BenchError(f"{site}: no runs to show")
    df = pd.concat(frames, ignore_index=True).sort_values("_started", kind="stable")
    keys = ["dataset", "method", "metric", "item_id", "frame", "scope"]
    df = df.drop_duplicates(keys, keep="last").drop(columns="_started").reset_index(drop=True)
    return df, manifests, artifacts


def bootstrap_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (1000 resamples, fixed seed)."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def leaderboards(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per data set: metrics (name, arrow, family, unit) and method rows with cells
    (mean, CI, best) and a rank (mean of per-metric ranks)."""
    ok = df[df["status"] == "ok"]
    main = ok[~ok["metric"].astype(str).str.contains("/", regex=False)]
    out = []
    for ds, g in main.groupby("dataset", sort=False):
        g_items = g[g["scope"].isin(ITEM_SCOPES)]
        g_corpus = g[g["scope"] == "dataset"]
        metrics = list(dict.fromkeys(list(g_items["metric"]) + list(g_corpus["metric"])))
        info = g.drop_duplicates("metric").set_index("metric")
        methods = list(dict.fromkeys(g["method"]))
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for (method, metric), mg in g_items.groupby(["method", "metric"], sort=False):
            v = mg["value"].to_numpy(dtype=np.float64)
            lo, hi = bootstrap_ci(v)
            cells[(method, metric)] = {"mean": float(v.mean()), "lo": lo, "hi": hi, "n": len(v)}
        for (method, metric), mg in g_corpus.groupby(["method", "metric"], sort=False):
            cells[(method, metric)] = {"mean": float(mg["value"].iloc[0]), "lo": float("nan"), "hi": float("nan"), "n": 1}
        failed = df[(df["dataset"] == ds) & (df["status"] != "ok")].groupby(["method", "metric"]).size().to_dict()
        ranks = {m: [] for m in methods}
        for metric in metrics:
            hib = bool(info.loc[metric, "higher_is_better"])
            vals = {m: cells[(m, metric)]["mean"] for m in methods if (m, metric) in cells}
            if not vals:
                continue
            best = max(vals.values()) if hib else min(vals.values())
            order = sorted(vals, key=lambda m: -vals[m] if hib else vals[m])
            for m in vals:
                cells[(m, metric)]["best"] = len(vals) > 1 and vals[m] == best and metric not in NOT_RANKED
                if len(vals) > 1 and metric_family(metric) != "speed" and metric not in NOT_RANKED:
                    ranks[m].append(order.index(m) + 1)
        rows = []
        for m in methods:
            r = [cells.get((m, x), {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0, "best": False}) for x in metrics]
            for x, c in zip(metrics, r):
                c["text"] = fmt(c["mean"], info.loc[x, "unit"])
                c["ci"] = f"{fmt(c['lo'], info.loc[x, 'unit'])}–{fmt(c['hi'], info.loc[x, 'unit'])}" if not np.isnan(c["lo"]) else ""
                c["failed"] = int(failed.get((m, x), 0))
            rows.append({"method": m, "cells": r, "avg_rank": float(np.mean(ranks[m])) if ranks[m] else float("nan")})
        finite = sorted({r["avg_rank"] for r in rows if not np.isnan(r["avg_rank"])})
        for r in rows:
            r["rank"] = finite.index(r["avg_rank"]) + 1 if not np.isnan(r["avg_rank"]) else ""
        rows.sort(key=lambda r: (r["rank"] == "", r["rank"] or 0))
        base = str(g["base"].iloc[0])
        out.append({
            "dataset": ds, "base": base, "degradation": str(g["degradation"].iloc[0] or "none"),
            "metrics": [{"name": x, "arrow": "↑" if bool(info.loc[x, "higher_is_better"]) else "↓", "family": metric_family(x),
                         "unit": str(info.loc[x, "unit"] or "")} for x in metrics],
            "rows": rows,
        })
    return out


# ----------------------------------------------------------------------------- images
def _item_values(df: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    r = df[(df["dataset"] == dataset) & (df["metric"] == metric) & df["scope"].isin(ITEM_SCOPES) & (df["status"] == "ok")]
    return r[["item_id", "method", "value", "higher_is_better"]]


def primary_metric(df: pd.DataFrame, dataset: str) -> str | None:
    have = set(df[(df["dataset"] == dataset) & df["scope"].isin(ITEM_SCOPES)]["metric"])
    for m in ("psnr", "psnr-y", "ssim", "niqe", "lpips"):
        if m in have:
            return m
    return sorted(have)[0] if have else None


def extremes(df: pd.DataFrame, dataset: str, metric: str, k: int = 3) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """Per method: the k worst and k best items by ``metric``."""
    vals = _item_values(df, dataset, metric)
    out = {}
    for method, g in vals.groupby("method", sort=False):
        asc = g.sort_values("value", ascending=not bool(g["higher_is_better"].iloc[0]))
        best = list(zip(asc["item_id"].head(k), asc["value"].head(k)))
        worst = list(zip(asc["item_id"].tail(k)[::-1], asc["value"].tail(k)[::-1]))
        out[method] = {"worst": worst, "best": best}
    return out


def copy_frames(site: Path, cache_dir: str, key: str, frames: list[int]) -> list[str] | None:
    """Copy the chosen frames of a cached frame set into SITE/img; relative paths, or None."""
    src = frames_dir(cache_dir, key)
    if not (src / "meta.json").exists():
        return None
    n = json.loads((src / "meta.json").read_text())["frames"]
    out = []
    for f in frames:
        f = min(f, n - 1)
        dst = site / "img" / f"{key[:20]}-{f}.png"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / f"{f:06d}.png", dst)
        out.append(f"../img/{dst.name}")
    return out


def copy_source_frames(site: Path, source: str | None, frames: list[int]) -> list[str] | None:
    """The reference frames read from the item's source (an image file, a frame folder or a
    video file) when the cache does not hold them (an undegraded, unscaled reference)."""
    import hashlib

    from ..datasets.base import list_images
    from ..imaging import IMAGE_EXTS, read_image, write_png

    if not source or not Path(source).exists():
        return None
    src = Path(source)
    tag = hashlib.sha1(str(src.resolve()).encode()).hexdigest()[:16]
    out, missing = [], []
    for f in frames:
        dst = site / "img" / f"src-{tag}-{f}.png"
        out.append(f"../img/{dst.name}")
        if not dst.exists():
            missing.append((f, dst))
    if not missing:
        return out
    (site / "img").mkdir(parents=True, exist_ok=True)
    want = dict(missing)
    if src.is_file() and src.suffix.lower() in IMAGE_EXTS:
        for dst in want.values():
            write_png(dst, read_image(src))
    elif src.is_dir():
        files = list_images(src)
        for f, dst in want.items():
            write_png(dst, read_image(files[min(f, len(files) - 1)]))
    else:
        import av

        with av.open(str(src)) as c:
            for i, vf in enumerate(c.decode(video=0)):
                if i in want:
                    write_png(want[i], vf.to_ndarray(format="rgb24"))
                if i >= max(want):
                    break
    return out if all((site / "img" / Path(o).name).exists() for o in out) else None


def strip_frames(kind: str, cache_dir: str, key: str) -> list[int]:
    if kind != "video":
        return [0]
    meta = frames_dir(cache_dir, key) / "meta.json"
    n = json.loads(meta.read_text())["frames"] if meta.exists() else 1
    return sorted({0, n // 2, n - 1})


# ----------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "bench", "figure.dpi": 100, "font.size": 9})
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


_LEVEL = re.compile(r"^(?P<family>[a-z]+?)(?P<level>\d+(\.\d+)?)$")


def plots(df: pd.DataFrame, site: Path) -> list[dict[str, str]]:
    plt = _plt()
    out: list[dict[str, str]] = []
    slug = lambda s: re.sub(r"[^\w.-]", "_", Path(s).name or s)[:40]  # noqa: E731  (a path-named set: its folder name)

    # perception-distortion: PSNR (x) against NIQE (y, lower is better) per method
    p, n = _means(df, "psnr"), _means(df, "niqe")
    pd_ = p.merge(n, on=["dataset", "base", "degradation", "method"], suffixes=("_psnr", "_niqe"))
    pd_ = pd_[pd_["value_psnr"] < 99]  # the undegraded reference scores 100 dB by definition
    if not pd_.empty:
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
        out.append({"title": "Perception–distortion (PSNR vs NIQE), per method and data set", "src": _save(fig, site / "plots" / "perception-distortion.svg")})

    # rate-quality: per base and codec family with 2+ levels; x = bitrate or bpp when recorded, else the level
    rows = df[(df["status"] == "ok") & df["scope"].isin(ITEM_SCOPES)]
    for metric in [m for m in ("psnr", "psnr-y", "ssim", "vmaf") if m in set(rows["metric"])][:2]:
        r = rows[rows["metric"] == metric].copy()
        # the sweep is over the chain's last number: qf{10,20} -> qf; x4-crf{20,30} -> x4-crf
        parts = r["degradation"].astype(str).str.extract(r"^(.*?[a-z]+?)(\d+(?:\.\d+)?)$")
        r["codec"], r["level"] = parts[0], pd.to_numeric(parts[1], errors="coerce")
        r = r.dropna(subset=["codec", "level"])
        for (base, codec), g in r.groupby(["base", "codec"], sort=False):
            if g["level"].nunique() < 2:
                continue
            rate_col = "bitrate_kbps" if g["bitrate_kbps"].notna().all() else ("bpp" if g["bpp"].notna().all() else None)
            agg = g.groupby(["method", "level"]).agg(value=("value", "mean"), rate=(rate_col or "level", "mean")).reset_index()
            fig, ax = plt.subplots(figsize=(5, 3.4))
            for method, mg in agg.groupby("method", sort=False):
                mg = mg.sort_values("rate")
                ax.plot(mg["rate"], mg["value"], marker="o", label=method)
            ax.set_xlabel({"bitrate_kbps": "bitrate (kbit/s)", "bpp": "bits per pixel"}.get(rate_col, f"{codec} level"))
            ax.set_ylabel(metric)
            ax.set_title(f"{base}: {metric} against rate ({codec} sweep)")
            ax.legend(fontsize=7)
            out.append({"title": f"Rate–quality: {base}, {codec} sweep, {metric}", "src": _save(fig, site / "plots" / f"rate-{slug(base)}-{slug(codec)}-{metric}.svg")})

    # per-class AP gain bars against identity
    gains = df[(df["status"] == "ok") & df["metric"].astype(str).str.match(r"^(voc-ap50|ap50)-gain/")]
    for (ds, fam), g in gains.assign(fam=gains["metric"].str.split("/").str[0]).groupby(["dataset", "fam"], sort=False):
        t = g.assign(cls=g["metric"].str.split("/", n=1).str[1]).pivot_table(index="cls", columns="method", values="value", sort=False)
        fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(t) + 1), 3.2))
        t.plot.bar(ax=ax, width=0.8)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel("AP gain over identity")
        ax.set_title(f"{ds}: {fam.removesuffix('-gain')} per class, gain over identity")
        out.append({"title": f"Per-class AP gain over identity: {ds} ({fam})", "src": _save(fig, site / "plots" / f"gain-{slug(ds)}-{fam}.svg")})

    # QF-predictor confusion matrix (rows qf-confusion/<true>/<pred> written by a QF predictor)
    conf = df[df["metric"].astype(str).str.startswith("qf-confusion/")]
    if not conf.empty:
        parts = conf["metric"].str.split("/", expand=True)
        m = conf.assign(true=parts[1].astype(int), pred=parts[2].astype(int)).pivot_table(index="true", columns="pred", values="value", aggfunc="sum", fill_value=0)
        fig, ax = plt.subplots(figsize=(4, 3.6))
        ax.imshow(m.to_numpy(), cmap="Blues")
        ax.set_xticks(range(len(m.columns)), m.columns)
        ax.set_yticks(range(len(m.index)), m.index)
        for i in range(len(m.index)):
            for j in range(len(m.columns)):
                ax.text(j, i, f"{m.iat[i, j]:.0f}", ha="center", va="center", fontsize=7)
        ax.set_xlabel("predicted QF")
        ax.set_ylabel("true QF")
        out.append({"title": "QF predictor confusion matrix", "src": _save(fig, site / "plots" / "qf-confusion.svg")})

    # speed against quality
    f, q = _means(df, "fps"), _means(df, primary_quality(df))
    sq = f.merge(q, on=["dataset", "base", "degradation", "method"], suffixes=("_fps", "_q"))
    if not sq.empty and primary_quality(df):
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for method, g in sq.groupby("method", sort=False):
            ax.scatter(g["value_fps"], g["value_q"], label=method)
        ax.set_xscale("log")
        ax.set_xlabel("frames per second (log)")
        ax.set_ylabel(primary_quality(df))
        ax.set_title("Speed against quality")
        ax.legend(fontsize=7)
        out.append({"title": f"Speed against quality ({primary_quality(df)})", "src": _save(fig, site / "plots" / "speed-quality.svg")})
    return out


def primary_quality(df: pd.DataFrame) -> str:
    have = set(df["metric"])
    return next((m for m in ("psnr", "psnr-y", "ssim", "vmaf") if m in have), "")


# ----------------------------------------------------------------------------- paper tables
def _undegraded(deg: pd.Series) -> pd.Series:
    return deg.fillna("").astype(str).isin(["", "none"])


def paper_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables in the reference study's form. Each: a DataFrame with a 'row' column."""
    ok = df[df["status"] == "ok"]
    out: dict[str, pd.DataFrame] = {}

    def means(metrics: list[str], scopes) -> pd.DataFrame:
        r = ok[ok["metric"].isin(metrics) & ok["scope"].isin(scopes)]
        return r.groupby(["base", "dataset", "degradation", "method", "metric"], sort=False)["value"].mean().unstack("metric").reset_index()

    # NIQE/BRISQUE with originals: per base, each degraded set x method, plus the undegraded reference
    nr = means(["niqe", "brisque"], ITEM_SCOPES)
    if not nr.empty:
        orig = _undegraded(nr["degradation"])
        nr = nr.assign(row=np.where(orig, "original", nr["dataset"] + " / " + nr["method"]))
        out["nr-with-originals"] = nr[["base", "row"] + [c for c in ("niqe", "brisque") if c in nr]].drop_duplicates(["base", "row"])

    # captioning: JPEG (identity on the degraded set), each method, originals (identity on the undegraded set)
    caps = [m for m in ("bleu4", "meteor", "rouge-l", "cider") if m in set(ok["metric"])]
    if caps:
        c = means(caps, ("dataset",))
        deg = ~_undegraded(c["degradation"])
        label = np.where(~deg, "originals", np.where(c["method"] == "identity", c["dataset"] + " (no restoration)", c["dataset"] + " / " + c["method"]))
        out["captioning"] = c.assign(row=label)[["base", "row"] + caps]

    # AP gain per class at each degradation
    g = ok[ok["metric"].astype(str).str.startswith("voc-ap50-gain/")]
    if not g.empty:
        t = g.assign(cls=g["metric"].str.split("/", n=1).str[1]).pivot_table(index=["dataset", "method"], columns="cls", values="value", sort=False)
        out["voc-ap50-gain"] = (100 * t).round(1).reset_index().assign(row=lambda x: x["dataset"] + " / " + x["method"]).drop(columns=["dataset", "method"])
    return out


def to_markdown_table(t: pd.DataFrame) -> str:
    from .leaderboard import md_escape as esc

    cols = list(t.columns)
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in t.iterrows():
        lines.append("| " + " | ".join(esc(fmt(v, "") if isinstance(v, float) else v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def to_latex_table(t: pd.DataFrame, caption: str) -> str:
    styler = t.style.hide(axis="index").format(precision=4, escape="latex", na_rep="--").format_index(escape="latex", axis=1)
    return styler.to_latex(caption=caption.replace("_", r"\_"), hrules=True)


# ----------------------------------------------------------------------------- build
def build(site: Path, run_dirs: list[Path] | None = None, fresh: bool = True, max_items: int = 8) -> Path:
    """Write the site. ``fresh``: the site shows exactly ``run_dirs``; otherwise they are
    added to the runs it already has (``bench publish``)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    site = Path(site)
    if fresh and (site / "data" / "runs").exists():
        shutil.rmtree(site / "data" / "runs")
    for sub in ("compare", "plots", "tables", "img"):
        if (site / sub).exists():
            shutil.rmtree(site / sub)
    site.mkdir(parents=True, exist_ok=True)
    copy_runs(site, list(run_dirs or []))
    df, manifests, artifacts = load_site_runs(site)
    (site / "data").mkdir(exist_ok=True)
    df.to_csv(site / "data" / "scores.csv", index=False)
    df.to_parquet(site / "data" / "scores.parquet", index=False)

    env = Environment(loader=PackageLoader("benchmark.reports", "templates"), autoescape=select_autoescape(["html"]))
    boards = leaderboards(df)
    figs = plots(df, site)

    tables = []
    (site / "tables").mkdir(exist_ok=True)
    from .leaderboard import summarize, to_markdown

    (site / "tables" / "leaderboard.md").write_text(to_markdown(summarize(df)))
    for name, t in paper_tables(df).items():
        cols = ["row"] + [c for c in t.columns if c != "row"]
        t = t[cols]
        (site / "tables" / f"{name}.md").write_text(to_markdown_table(t))
        (site / "tables" / f"{name}.tex").write_text(to_latex_table(t, name))
        tables.append({"name": name, "columns": cols, "rows": [[fmt(v, "") if isinstance(v, float) else v for v in r] for r in t.itertuples(index=False)],
                       "md": f"tables/{name}.md", "tex": f"tables/{name}.tex"})

    # comparison pages
    pages, page_of = [], {}
    latest_art: dict[tuple[str, str], dict[str, Any]] = {}
    for run_id in sorted(artifacts, key=lambda r: manifests.get(r, {}).get("started", "")):
        a = artifacts[run_id]
        for it in a["items"]:
            key = (it["dataset"], it["item_id"])
            merged = latest_art.get(key, {**it, "outputs": {}, "cache_dir": a["cache_dir"]})
            merged["outputs"] = {**merged["outputs"], **it["outputs"]}
            latest_art[key] = merged
    for board in boards:
        ds = board["dataset"]
        metric = primary_metric(df, ds)
        ext = extremes(df, ds, metric) if metric else {}
        board["extremes"] = ext
        board["primary"] = metric
        chosen = list(dict.fromkeys([i for e in ext.values() for i, _ in e["worst"] + e["best"]]))
        items = [k[1] for k in latest_art if k[0] == ds]
        chosen = [i for i in chosen if (ds, i) in latest_art] + [i for i in items if i not in chosen]
        board["pages"] = []
        for item_id in chosen[:max_items]:
            art = latest_art[(ds, item_id)]
            frames = strip_frames(art["kind"], art["cache_dir"], next(iter(art["outputs"].values()), art["degraded"]))
            panels = []
            for label, key in [("reference", art["reference"]), (f"degraded ({board['degradation']})", art["degraded"])] + \
                    [(m, k) for m, k in art["outputs"].items()]:
                srcs = copy_frames(site, art["cache_dir"], key, frames)
                if srcs is None and label == "reference":
                    srcs = copy_source_frames(site, art.get("source"), frames)
                if srcs is None:
                    continue
                vals = df[(df["dataset"] == ds) & (df["item_id"] == item_id) & (df["method"] == label) & df["scope"].isin(ITEM_SCOPES)]
                panels.append({"label": label, "srcs": srcs, "scores": [(r.metric, fmt(r.value, r.unit)) for r in vals.itertuples()][:8]})
            if len(panels) < 2:
                continue
            n = len(pages)
            pages.append({"file": f"compare/{n}.html", "dataset": ds, "item_id": item_id, "panels": panels, "frames": frames, "kind": art["kind"]})
            page_of[(ds, item_id)] = f"compare/{n}.html"
            board["pages"].append({"item_id": item_id, "href": f"compare/{n}.html"})
        board["page_of"] = {i: page_of.get((ds, i)) for e in ext.values() for i, _ in e["worst"] + e["best"]}

    (site / "compare").mkdir(exist_ok=True)
    page_tpl = env.get_template("compare.html")
    for p in pages:
        (site / p["file"]).write_text(page_tpl.render(page=p))
    runs = [{"run_id": r, "started": m.get("started", ""), "command": " ".join(map(str, m.get("command") or [])), "rows": m.get("rows", "")}
            for r, m in sorted(manifests.items(), key=lambda kv: kv[1].get("started", ""))]
    (site / "index.html").write_text(env.get_template("index.html").render(
        boards=boards, figures=figs, tables=tables, runs=runs, families=[f for f in FAMILIES if any(
            x["family"] == f for b in boards for x in b["metrics"])] + (["other"] if any(x["family"] == "other" for b in boards for x in b["metrics"]) else []),
    ))
    return site / "index.html"
