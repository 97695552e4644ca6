"""Plots a researcher reads at a glance (matplotlib, headless), written as PNG and SVG side by side.

- :func:`per_query_deltas`: for each system, the per-query difference to the baseline on one measure,
  sorted, as bars (wins above zero, losses below) with the counts of wins/ties/losses;
  :func:`write_plots` draws them for every measure of a results folder (``ragif board``, ``ragif plot``).
- :func:`tradeoff`: accuracy against retrieval rate (or cost) for adaptive-retrieval policies, with error
  bars and the Pareto frontier.
- :func:`scatter` and :func:`roc`: metric against human judgement (meta-evaluation), with Pearson /
  Spearman / Kendall in the title and AUC in the legend.
- :func:`curve`: a generic line plot (scaling curves: throughput or quality vs corpus size, ...).

Every function takes a DataFrame and a file stem and returns the paths written (``stem.png``,
``stem.svg``); SVGs are byte-for-byte reproducible (no date, fixed ids).

>>> from rag.report.plots import tradeoff
>>> tradeoff(summary, "retrieval_rate", "accuracy", "plots/popqa", label="policy")   # doctest: +SKIP
[PosixPath('plots/popqa.png'), PosixPath('plots/popqa.svg')]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from rag.core.cache import Cache, atomic_write_bytes
from rag.core.errors import InputError
from rag.core.files import file_stem
from rag.core.hashing import hash_config
from rag.core.schema import require_columns
from rag.report.tables import read_table


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: Path) -> list[Path]:
    """Lay the figure out, write it as PNG and SVG (reproducible bytes) and close it."""
    import matplotlib

    fig.tight_layout()
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "ragif"}):  # fixed element ids: identical SVG on re-runs
        for suffix in (".png", ".svg"):
            path = stem.parent / f"{stem.name}{suffix}"
            fig.savefig(path, dpi=150, bbox_inches="tight",
                        metadata={"Date": None} if suffix == ".svg" else {"Software": None})
            paths.append(path)
    _pyplot().close(fig)
    return paths


def _require(frame: pd.DataFrame, columns: Sequence[str | None], what: str) -> None:
    require_columns(frame, columns, what)


AGGREGATE_ABOVE = 300   # questions: above this a delta plot draws the sorted-difference curve, not one bar each
CURVE_POINTS = 400      # points of that curve (quantiles of the differences)


def _deltas(per_query: pd.DataFrame, baseline: str, measure: str) -> dict[str, np.ndarray]:
    """Per system: the differences ``system - baseline`` over the questions both have, sorted descending;
    values at per_query.csv's precision (6 decimals), so values read back from the file and values held in
    memory draw, and cache, the same plot."""
    table = per_query[per_query["measure"] == measure].pivot_table(index="qid", columns="system", values="value",
                                                                   aggfunc="first").round(6)
    if baseline not in table or table[baseline].isna().all():
        return {}
    out = {}
    for system in dict.fromkeys(per_query["system"]):
        if system == baseline or system not in table or not table[system].notna().any():
            continue     # a system the measure does not apply to has no bars
        delta = (table[system] - table[baseline]).dropna().to_numpy(dtype=float)
        out[system] = np.sort(delta)[::-1]
    return out


def _draw_deltas(ax: Any, delta: np.ndarray) -> None:
    """One bar per question up to :data:`AGGREGATE_ABOVE` questions; above, the sorted differences as a
    filled curve over the share of questions (:data:`CURVE_POINTS` quantiles): the same picture, a
    figure whose size does not grow with the questions."""
    if len(delta) <= AGGREGATE_ABOVE:
        colours = ["#2e7d32" if d > 0 else "#c62828" if d < 0 else "#9e9e9e" for d in delta]
        ax.bar(range(len(delta)), delta, width=1.0, color=colours)
        ax.set_xticks([])
        return
    share = np.linspace(0.0, 100.0, CURVE_POINTS)
    curve = np.quantile(delta, 1.0 - share / 100.0)   # descending, as the bars
    ax.fill_between(share, curve, 0, where=curve > 0, color="#2e7d32", step="mid", linewidth=0)
    ax.fill_between(share, curve, 0, where=curve < 0, color="#c62828", step="mid", linewidth=0)
    ax.plot(share, curve, color="black", linewidth=0.6, drawstyle="steps-mid")
    ax.set_xlim(0, 100)
    ax.tick_params(axis="x", labelsize=7)


def per_query_deltas(per_query: pd.DataFrame, baseline: str, measure: str, stem: str | Path,
                     title: str | None = None, deltas: dict[str, np.ndarray] | None = None) -> list[Path]:
    """``system - baseline`` per query (long table ``system, qid, measure, value``), sorted: one bar per
    query, or above :data:`AGGREGATE_ABOVE` queries the sorted-difference curve; wins, ties and losses in
    each panel's title."""
    deltas = _deltas(per_query, baseline, measure) if deltas is None else deltas
    if not deltas:
        return []
    plt = _pyplot()
    fig, axes = plt.subplots(len(deltas), 1, figsize=(8, 1.9 * len(deltas) + 0.6), squeeze=False, sharey=True)
    aggregated = False
    for ax, (system, delta) in zip(axes[:, 0], deltas.items()):
        _draw_deltas(ax, delta)
        aggregated = aggregated or len(delta) > AGGREGATE_ABOVE
        ax.axhline(0, color="black", linewidth=0.6)
        wins, losses = int((delta > 0).sum()), int((delta < 0).sum())
        ax.set_title(f"{system} vs {baseline}: {wins} better, {len(delta) - wins - losses} tied, {losses} worse "
                     f"(mean {delta.mean():+.4f})", fontsize=9, loc="left")
        ax.set_ylabel(f"Δ {measure}", fontsize=8)
    axes[-1, 0].set_xlabel("% of queries, sorted by difference" if aggregated else "queries, sorted by difference")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, stem)


def curve(frame: pd.DataFrame, x: str, y: str, stem: str | Path, by: str | None = None, logx: bool = False,
          title: str | None = None, labels: Sequence[str] | None = None) -> list[Path]:
    """Line plot of ``y`` against ``x`` (one line per value of ``by``), points marked."""
    _require(frame, [x, y, by, *(labels or [])[:1]], "curve plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = frame.groupby(by, sort=False) if by else [(None, frame)]
    for name, group in groups:
        group = group.sort_values(x)
        ax.plot(group[x], group[y], marker="o", label=str(name) if name is not None else None)
        if labels is not None:
            for _, row in group.iterrows():
                ax.annotate(str(row[labels[0]]), (row[x], row[y]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    if by:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, stem)


def write_plots(folder: str | Path, measures: Sequence[str] | None = None, cache: Cache | None = None,
                per_query: pd.DataFrame | None = None) -> list[Path]:
    """Per-query delta plots (``deltas-<measure>.png|svg``) for every measure of a results folder
    (default: all its measures); nothing when there is no baseline or a single system, and no plot for a
    measure the baseline has no values of. ``per_query``: the folder's per_query.csv when already read.

    Each plot is cached (``cache``: the active cache, else none) under a key made of what it shows (the
    sorted differences of each system, the names and the title), so the same plot is stored once whatever
    the row order of the values, and a folder's boards rewritten later reuse it."""
    folder = Path(folder)
    pq_path, prov_path = folder / "per_query.csv", folder / "provenance.json"
    if per_query is None:
        if not pq_path.exists():
            raise InputError("not a results folder (no per_query.csv)", path=folder)
        per_query = read_table(pq_path, ("system", "qid", "measure", "value"))
    provenance = json.loads(prov_path.read_text("utf-8")) if prov_path.exists() else {}
    baseline = provenance.get("baseline")
    if not baseline or per_query["system"].nunique() < 2:
        return []
    name = provenance.get("experiment", folder.name)
    available = list(dict.fromkeys(per_query["measure"]))
    chosen = list(measures) if measures else (provenance.get("measures") or available)
    cache = cache or Cache.active()
    for measure in chosen:
        if measure not in available:
            raise InputError(f"no per-query values for measure {measure!r}; have {available}", field="measure")
    groups = dict(tuple(per_query.groupby("measure", sort=False)))
    written = []
    for measure in chosen:
        values = groups[measure]
        stem, title = f"deltas-{file_stem(measure)}", f"{name}: per-query {measure} against {baseline}"
        deltas = _deltas(values, baseline, measure)
        if cache is None:
            written += per_query_deltas(values, baseline, measure, folder / stem, title=title, deltas=deltas)
            continue
        if not deltas:
            continue
        key = hash_config("deltas-plot", 3, baseline, measure, title, AGGREGATE_ABOVE, CURVE_POINTS,
                          [[system, delta] for system, delta in deltas.items()])
        built = cache.artifact("plots", key, lambda tmp: per_query_deltas(values, baseline, measure, tmp / stem,
                                                                          title=title, deltas=deltas))
        for path in sorted(built.iterdir()):
            if path.suffix in (".png", ".svg"):
                atomic_write_bytes(folder / path.name, path.read_bytes())
                written.append(folder / path.name)
    return written


def _pareto(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (lower or equal x and higher y), by x."""
    order = np.lexsort((-ys, xs))
    best, keep = -np.inf, []
    for i in order:
        if ys[i] > best:
            keep.append(i)
            best = ys[i]
    return np.array(keep, dtype=int)


def tradeoff(frame: pd.DataFrame, x: str, y: str, stem: str | Path, label: str | None = None,
             err: str | None = None, title: str | None = None, xlabel: str | None = None,
             ylabel: str | None = None) -> list[Path]:
    """One point per row (e.g. an adaptive-retrieval policy: ``y`` accuracy against ``x`` retrieval rate),
    named by ``label`` (one colour and legend entry each), with ``err`` (a standard deviation column) or ``<y>_lo``/``<y>_hi`` as error
    bars, and the Pareto frontier (best ``y`` for at most that ``x``) as a dashed line."""
    _require(frame, [x, y, label, err], "tradeoff plot")
    plt = _pyplot()
    data = frame.dropna(subset=[x, y]).reset_index(drop=True)
    xs, ys = data[x].to_numpy(float), data[y].to_numpy(float)
    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    if err:
        yerr = data[err].to_numpy(float)
    elif f"{y}_lo" in data and f"{y}_hi" in data:
        yerr = np.vstack([ys - data[f"{y}_lo"].to_numpy(float), data[f"{y}_hi"].to_numpy(float) - ys])
    else:
        yerr = None
    colours = plt.get_cmap("tab10").colors
    names = data[label].astype(str).tolist() if label else [None] * len(data)
    for i, name in enumerate(names):   # one colour and legend entry per point: readable when points cluster
        e = None if yerr is None else (yerr[i] if yerr.ndim == 1 else yerr[:, i:i + 1])
        ax.errorbar(xs[i], ys[i], yerr=e, fmt="o", color=colours[i % len(colours)], elinewidth=1, capsize=3,
                    alpha=0.9, label=name)
    front = _pareto(xs, ys)
    ax.plot(xs[front], ys[front], "--", color="#555555", linewidth=1, label="Pareto frontier", zorder=0)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, stem)


def correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Pearson, Spearman and Kendall (tau-b) between two paired samples (NaN pairs dropped)."""
    from scipy import stats

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "kendall": float("nan"), "n": int(len(a))}
    return {"pearson": float(stats.pearsonr(a, b)[0]), "spearman": float(stats.spearmanr(a, b)[0]),
            "kendall": float(stats.kendalltau(a, b)[0]), "n": int(len(a))}


def scatter(frame: pd.DataFrame, x: str, y: str, stem: str | Path, by: str | None = None,
            jitter: float = 0.0, title: str | None = None, seed: int = 0) -> list[Path]:
    """``y`` (e.g. an answer metric) against ``x`` (e.g. the human label), one colour per ``by``;
    Pearson r, Spearman rho and Kendall tau in the title. ``jitter`` spreads discrete ``x`` values."""
    _require(frame, [x, y, by], "scatter plot")
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    groups = frame.groupby(by, sort=False) if by else [(None, frame)]
    for name, group in groups:
        xs = pd.to_numeric(group[x], errors="coerce").to_numpy(float)
        ax.scatter(xs + rng.uniform(-jitter, jitter, len(xs)) if jitter else xs,
                   pd.to_numeric(group[y], errors="coerce"), s=10, alpha=0.6,
                   label=str(name) if name is not None else None)
    c = correlations(pd.to_numeric(frame[x], errors="coerce"), pd.to_numeric(frame[y], errors="coerce"))
    stats_line = f"r={c['pearson']:.3f}  ρ={c['spearman']:.3f}  τ={c['kendall']:.3f}  (n={c['n']})"
    ax.set_title(f"{title}\n{stats_line}" if title else stats_line, fontsize=9)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    if by:
        ax.legend(fontsize=7)
    return _save(fig, stem)


def roc(frame: pd.DataFrame, scores: Sequence[str], label: str, stem: str | Path,
        positive: Any = None, title: str | None = None) -> list[Path]:
    """ROC curves of each column in ``scores`` for predicting ``label`` (binary 0/1 or True/False, or
    ``label == positive``), AUC in the legend (ties grouped, as :func:`rag.evaluation.meta_eval.roc_curve`)."""
    from rag.evaluation.meta_eval import roc_curve

    _require(frame, [*scores, label], "ROC plot")
    plt = _pyplot()
    truth = frame[label] == positive if positive is not None else frame[label].astype(float) > 0
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for column in scores:
        score = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        keep = ~np.isnan(score)
        fpr, tpr, auc = roc_curve(score[keep], truth.to_numpy()[keep].astype(float))
        ax.plot(fpr, tpr, label=f"{column} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, stem)


def plot_meta_eval(frame: pd.DataFrame, metrics: Sequence[str], label: str, path: str | Path,
                   kind: str = "auto", order: Sequence[str] | None = None,
                   positive: Iterable[str] | None = None, seed: int = 0) -> Path:
    """PNG: one scatter per metric (human label, jittered, vs metric) and the ROC curves of all metrics."""
    from rag.evaluation.meta_eval import encode_labels, roc_curve

    plt = _pyplot()
    codes, binary, _ = encode_labels(frame[label], kind, order, positive)
    if positive:
        codes, order = binary.copy(), ["other", " / ".join(map(str, positive))]
    n = len(metrics) + 1
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    rng = np.random.default_rng(seed)
    roc = axes.flat[len(metrics)]
    for ax, metric in zip(axes.flat, metrics):
        score = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
        keep = ~np.isnan(score) & ~np.isnan(codes)
        ax.scatter(codes[keep] + rng.uniform(-0.15, 0.15, keep.sum()), score[keep], s=8, alpha=0.5)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(label, fontsize=8)
        if order:
            ax.set_xticks(range(len(order)), list(order), fontsize=7)
        fpr, tpr, auc = roc_curve(score[keep], binary[keep])
        roc.plot(fpr, tpr, label=f"{metric} ({auc:.3f})" if not np.isnan(auc) else metric)
    roc.plot([0, 1], [0, 1], "k:", lw=0.8)
    roc.set_title("ROC (binarised label)", fontsize=9)
    roc.set_xlabel("false positive rate", fontsize=8)
    roc.set_ylabel("true positive rate", fontsize=8)
    roc.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
