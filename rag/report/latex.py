"""The leaderboard as a LaTeX table for a paper: booktabs rules, scaled down to the text width when it is
wider (``\\resizebox`` of graphicx: never enlarged), each measure with its own digits, best values bold,
``$^\\dagger$`` for a significant difference from the baseline, and the notes and provenance as comments.

>>> latex_escape("BM25 → reader_k=3")
'BM25 $\\\\rightarrow$ reader\\\\_k=3'
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from rag.report.content import BoardContent

PACKAGES = r"\usepackage{booktabs,graphicx}"
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  ">": r"\textgreater{}", "<": r"\textless{}", "†": r"$^\dagger$",
                  # characters of system and measure names that pdflatex's default input encoding lacks
                  "→": r"$\rightarrow$", "←": r"$\leftarrow$", "↓": r"$\downarrow$", "↑": r"$\uparrow$",
                  "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$", "±": r"$\pm$", "Δ": r"$\Delta$",
                  "α": r"$\alpha$", "ρ": r"$\rho$", "τ": r"$\tau$", "…": r"\ldots{}", "·": r"$\cdot$"}


def visible(text: Any) -> str:
    """Line breaks, tabs and other control or invisible characters as spaces (a table row stays one row)."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def latex_escape(text: Any) -> str:
    """Escape LaTeX's special characters (one pass, so replacements are never escaped again); line breaks
    and other control characters become spaces (a blank line would end the table's paragraph)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in visible(text))


def _cell(board: BoardContent, system: str, measure: str, digits: Any) -> str:
    value = board.table.loc[system, measure]
    if pd.isna(value):
        return "--"
    text = board.fmt(value, measure, digits)
    if board.is_best(system, measure, digits):
        text = rf"\textbf{{{text}}}"
    if board.is_significant(system, measure):
        text += r"\rlap{$^\dagger$}"
    return text


def render_latex(board: BoardContent, digits: Any = None, caption: str | None = None, label: str | None = None) -> str:
    """A ``table`` environment to paste into a paper (needs ``\\usepackage{booktabs,graphicx}``): the
    tabular is scaled down to ``\\linewidth`` when wider, never up. Best per column bold (measures of
    undeclared direction have none), ``$^\\dagger$`` = significant vs. the baseline (set in ``\\rlap`` so the
    numbers stay aligned), digits per measure (``digits``: see :meth:`BoardContent.digits`)."""
    measures = list(board.table.columns)
    header = [latex_escape(m) + (r"\,$\downarrow$" if board.lower_is_better(m) else "") for m in measures]
    out = [rf"% ragif leaderboard; needs {PACKAGES}",
           r"\begin{table}[t]", r"\centering",
           r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
           r"\begin{tabular}{@{}l" + "r" * len(measures) + "@{}}",
           r"\toprule", "System & " + " & ".join(header) + r" \\", r"\midrule"]
    for system in board.table.index:
        name = latex_escape(system) + (" (baseline)" if system == board.baseline else "")
        out.append(name + " & " + " & ".join(_cell(board, system, m, digits) for m in measures) + r" \\")
        if system == board.baseline and board.table.index[0] == system and len(board.table) > 1:
            out.append(r"\midrule")
    out += [r"\bottomrule", r"\end{tabular}}"]
    sig = board.provenance.get("significance", {})
    extra = [line.replace("**", "") for line in board.legend()[1:]]   # n per measure, the verbose-answers note
    cap = caption if caption is not None else (
        f"{latex_escape(str(board.provenance.get('experiment', 'Results')))}. Best value per column in bold; "
        f"$^\\dagger$: significantly different from {latex_escape(str(board.baseline))} "
        f"({latex_escape(str(sig.get('test', 't-test')))}, {latex_escape(str(sig.get('correction', 'holm')))} "
        f"correction, $\\alpha={sig.get('alpha', 0.05)}$)." + (" --: not applicable." if board.table.isna().any().any()
                                                               else "")
        + "".join(f" {latex_escape(line)}" for line in extra if not line.startswith("n (")))
    tab_label = label or "tab:" + "".join(c if c.isalnum() or c in "-:" else "-"
                                         for c in str(board.provenance.get("experiment", "results")))
    out += [rf"\caption{{{cap}}}", rf"\label{{{tab_label}}}", r"\end{table}"]
    notes = [f"{n['system']}, {n['measure']}: {n['text']}" for n in board.notes()]
    comments = [visible(line) for line in [*extra, *notes, *board.provenance_lines()]]
    out.append("% " + "\n% ".join(comments))
    return "\n".join(out) + "\n"
