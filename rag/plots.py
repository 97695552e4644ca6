"""Plots a researcher reads at a glance (matplotlib, headless), written as PNG and SVG.

- :func:`per_query_deltas`: for each system, the per-query difference to the baseline on one measure,
  sorted, as bars (wins above zero, losses below) with the counts of wins/ties/losses.
- :func:`curve`: a generic line plot (accuracy vs retrieval rate, throughput vs corpus size, ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = stem.parent / f"{stem.name}{suffix}"
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Date": None} if suffix == ".svg" else None)
        paths.append(path)
    return paths


def per_query_deltas(per_query: pd.DataFrame, baseline: str, measure: str, stem: str | Path,
                     title: str | None = None) -> list[Path]:
    """Bars of ``system - baseline`` per query (long table ``system, qid, measure, value``)."""
    plt = _pyplot()
    table = per_query[per_query["measure"] == measure].pivot_table(index="qid", columns="system", values="value",
                                                                   aggfunc="first")
    systems = [s for s in dict.fromkeys(per_query["system"]) if s != baseline and s in table]
    if baseline not in table or not systems:
        return []
    fig, axes = plt.subplots(len(systems), 1, figsize=(8, 1.9 * len(systems) + 0.6), squeeze=False, sharey=True)
    for ax, system in zip(axes[:, 0], systems):
        delta = (table[system] - table[baseline]).dropna().sort_values(ascending=False).to_numpy()
        colours = ["#2e7d32" if d > 0 else "#c62828" if d < 0 else "#9e9e9e" for d in delta]
        ax.bar(range(len(delta)), delta, width=1.0, color=colours)
        ax.axhline(0, color="black", linewidth=0.6)
        wins, losses = int((delta > 0).sum()), int((delta < 0).sum())
        ax.set_title(f"{system} vs {baseline}: {wins} better, {len(delta) - wins - losses} tied, {losses} worse "
                     f"(mean {delta.mean():+.4f})", fontsize=9, loc="left")
        ax.set_xticks([])
        ax.set_ylabel(f"Δ {measure}", fontsize=8)
    axes[-1, 0].set_xlabel("queries, sorted by difference")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    paths = _save(fig, Path(stem))
    plt.close(fig)
    return paths


def curve(frame: pd.DataFrame, x: str, y: str, stem: str | Path, by: str | None = None, logx: bool = False,
          title: str | None = None, labels: Sequence[str] | None = None) -> list[Path]:
    """Line plot of ``y`` against ``x`` (one line per value of ``by``), points marked."""
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
    fig.tight_layout()
    paths = _save(fig, Path(stem))
    plt.close(fig)
    return paths


def tradeoff(frame: pd.DataFrame, x: str, y: str, label: str, stem: str | Path, title: str | None = None,
             yerr: str | None = None) -> list[Path]:
    """One labelled point per row (e.g. adaptive-retrieval policies: accuracy against retrieval rate)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.errorbar(frame[x], frame[y], yerr=frame[yerr] if yerr else None, fmt="o", capsize=3)
    for _, row in frame.iterrows():
        ax.annotate(str(row[label]), (row[x], row[y]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    paths = _save(fig, Path(stem))
    plt.close(fig)
    return paths
