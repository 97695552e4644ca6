"""Reports from a results folder: leaderboards (Markdown, LaTeX, HTML), plots and plain tables.

Reports depend on results, never the reverse: they read what ``ExperimentResults.save`` wrote
(results.csv, per_query.csv, significance.csv, provenance.json), so ``ragif board`` can rewrite them
later from the folder alone.

>>> from rag.report import write_report
>>> write_report("results/demo")                        # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rag.core.cache import Cache
from rag.report.board import Board, write_boards
from rag.report.plots import write_plots


def write_report(folder: str | Path, formats: Sequence[str] = ("md", "html", "tex"), plots: bool = True,
                 cache: Cache | None = None) -> list[Path]:
    """The plots (one per measure, against the baseline; cached by content) and the leaderboards of a
    results folder; returns the files written."""
    formats = [f for f in formats if f != "plots"] + (["plots"] if plots else [])   # plots first: the page inlines them
    return write_boards(folder, formats=formats, cache=cache)


__all__ = ["Board", "write_boards", "write_plots", "write_report"]
