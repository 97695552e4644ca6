"""Leaderboards from a results folder: Markdown, LaTeX (booktabs) and a standalone HTML page.

Best value per column in bold; a dagger marks a significant difference from the baseline (after
correction); every table carries its provenance (config hash, versions, git commit, date). What a board says
is :class:`rag.report.content.BoardContent`; :class:`Board` adds the formats.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import InputError
from rag.report.content import EMPTY, MARK, BoardContent, Digits, parse_digits
from rag.report.html import render_html
from rag.report.latex import latex_escape, render_latex, visible


class Board(BoardContent):
    """A leaderboard and its formats.

    >>> board = Board.load("results/demo")                 # doctest: +SKIP
    >>> print(board.markdown())                            # doctest: +SKIP
    >>> Path("table.tex").write_text(board.latex(digits=3)) # doctest: +SKIP
    """

    # ------------------------------------------------------------------ formats
    def markdown(self, digits: Digits = None) -> str:
        """A GitHub/pandoc pipe table: best per column in bold, † = significant vs. the baseline."""
        measures = list(self.table.columns)
        header = [_md_escape(m) + (" ↓" if self.lower_is_better(m) else "") for m in measures]
        lines = ["| System | " + " | ".join(header) + " |", "|:---|" + "---:|" * len(measures)]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = EMPTY if pd.isna(v) else self.fmt(v, m, digits) + (MARK if self.is_significant(system, m) else "")
                cells.append(f"**{text}**" if self.is_best(system, m, digits) else text)
            name = _md_escape(system) + (" (baseline)" if system == self.baseline else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        notes = [f"{EMPTY if pd.isna(self.table.loc[n['system'], n['measure']]) else 'n'}: {_md_escape(n['system'])}, "
                 f"{_md_escape(n['measure'])}: {n['text']}" for n in self.notes()]
        footer = "\n".join(f"> {line}" for line in [*self.legend(), *notes, *self.provenance_lines()])
        return "\n".join(lines) + "\n\n" + footer + "\n"

    def latex(self, digits: Digits = None, caption: str | None = None, label: str | None = None) -> str:
        """A booktabs table that fits the text width (see :func:`rag.report.latex.render_latex`)."""
        return render_latex(self, digits, caption, label)

    def html(self, digits: Digits = None) -> str:
        """A standalone page (inline CSS and JS, plots inlined, nothing fetched)."""
        return render_html(self, digits)


def _md_escape(text: str) -> str:
    """One table cell: backslashes and pipes escaped (so ``\\|`` cannot end the cell), line breaks and other
    control characters as spaces."""
    return visible(text).replace("\\", "\\\\").replace("|", r"\|")


FORMATS = ("md", "html", "tex", "plots")


def write_boards(folder: str | Path, formats: Sequence[str] = ("md", "html", "tex"), digits: Digits = None,
                 cache: Any = None) -> list[Path]:
    """Write the leaderboards of a results folder; returns the files written.

    Formats: ``md`` (leaderboard.md), ``html`` (leaderboard.html), ``tex`` (leaderboard.tex), ``plots``
    (``deltas-<measure>.png|svg`` from :func:`rag.report.plots.write_plots`, written first so the page shows them;
    cached in ``cache``, default the active one), ``csv`` (results.csv is always there). ``digits``: see
    :meth:`Board.digits` (e.g. ``3`` or ``"3,LLMTokens=0"``).
    """
    folder = Path(folder)
    formats = [f.strip() for f in formats if f.strip()]
    for fmt in formats:
        if fmt not in (*FORMATS, "csv", "latex"):
            raise InputError(f"unknown leaderboard format {fmt!r}; use md, html, tex, plots, csv", field="format")
    parse_digits(digits)
    written: list[Path] = []
    board = Board.load(folder)
    if "plots" in formats:
        from rag.report.plots import write_plots

        written += write_plots(folder, cache=cache, per_query=board.per_query)
    for fmt in formats:
        if fmt == "md":
            path, text = folder / "leaderboard.md", board.markdown(digits)
        elif fmt == "html":
            path, text = folder / "leaderboard.html", board.html(digits)
        elif fmt in ("tex", "latex"):
            path, text = folder / "leaderboard.tex", board.latex(digits)
        else:
            continue
        atomic_write_text(path, text)
        written.append(path)
    return written


__all__ = ["Board", "BoardContent", "Digits", "EMPTY", "FORMATS", "MARK", "latex_escape", "parse_digits",
           "write_boards"]
