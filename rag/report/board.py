"""Leaderboards from a results folder: Markdown, LaTeX (booktabs) and a standalone HTML page.

Best value per column in bold; a dagger marks a significant difference from the baseline (after
correction); every table carries its provenance (config hash, versions, git commit, date).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import InputError
from rag.core.files import file_stem
from rag.datasets.io import read_json
from rag.report.tables import read_table

LOWER_IS_BETTER = {"FaithCritic", "latency", "seconds", "cost", "tokens"}
MARK = "†"
EMPTY = "–"


def lower_is_better(measure: str) -> bool:
    """Guess from the name, for tables written without measure information (ragif < 0.2)."""
    return any(measure.lower().startswith(m.lower()) for m in LOWER_IS_BETTER)


class Board:
    """The content of a leaderboard, read from a folder written by ``ExperimentResults.save``.

    >>> board = Board.load("results/demo")                 # doctest: +SKIP
    >>> print(board.markdown())                            # doctest: +SKIP
    >>> Path("table.tex").write_text(board.latex(digits=3)) # doctest: +SKIP
    """

    def __init__(self, table: pd.DataFrame, significance: pd.DataFrame, provenance: dict[str, Any],
                 per_query: pd.DataFrame | None = None, folder: Path | None = None):
        self.table = table
        self.significance = significance
        self.provenance = provenance
        self.per_query = per_query
        self.folder = folder  # the results folder, when loaded from one (plots are looked up there)

    @classmethod
    def load(cls, folder: str | Path) -> "Board":
        folder = Path(folder)
        results = folder / "results.csv"
        if not results.exists():
            raise InputError("not a results folder (no results.csv)", path=folder)
        table = read_table(results).set_index("system")
        sig_path = folder / "significance.csv"
        sig = read_table(sig_path, ("system", "measure")) if sig_path.exists() and sig_path.stat().st_size > 1 \
            else pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"])
        prov_path = folder / "provenance.json"
        provenance = read_json(prov_path) if prov_path.exists() else {}
        if not isinstance(provenance, dict):
            raise InputError("provenance must be a JSON object", path=prov_path)
        pq_path = folder / "per_query.csv"
        per_query = read_table(pq_path, ("system", "qid", "measure", "value")) if pq_path.exists() else None
        return cls(table, sig, provenance, per_query, folder)

    # ------------------------------------------------------------------ helpers
    @property
    def baseline(self) -> str | None:
        return self.provenance.get("baseline")

    def info(self, measure: str) -> dict[str, Any]:
        return (self.provenance.get("measure_info") or {}).get(measure, {})

    def kind(self, measure: str) -> str:
        return str(self.info(measure).get("kind", "measure"))

    def lower_is_better(self, measure: str) -> bool:
        info = self.info(measure)
        return bool(info["lower_is_better"]) if "lower_is_better" in info else lower_is_better(measure)

    def note(self, system: str, measure: str) -> str | None:
        """Why a cell is empty, or why fewer questions than the dataset's were scored (None when neither)."""
        return (self.provenance.get("not_applicable") or {}).get(system, {}).get(measure)

    def notes(self) -> list[dict[str, str]]:
        """Every note of the table, in row and column order."""
        return [{"system": s, "measure": m, "text": text} for s in self.table.index for m in self.table.columns
                if (text := self.note(s, m))]

    def best(self, measure: str) -> float:
        col = self.table[measure]
        return col.min() if self.lower_is_better(measure) else col.max()

    def is_best(self, system: str, measure: str, digits: int | None = None) -> bool:
        """Whether ``system`` has the best value of ``measure`` (ties included; compared after rounding
        to ``digits`` when given, so that two printed values that look equal are both marked)."""
        value = self.table.loc[system, measure]
        if pd.isna(value):
            return False
        best = self.best(measure)
        if digits is not None:
            return round(float(value), digits) == round(float(best), digits)
        return abs(value - best) < 1e-12

    def sig_row(self, system: str, measure: str) -> pd.Series | None:
        if self.significance.empty:
            return None
        hit = self.significance[(self.significance["system"] == system) & (self.significance["measure"] == measure)]
        return hit.iloc[0] if len(hit) else None

    def is_significant(self, system: str, measure: str) -> bool:
        row = self.sig_row(system, measure)
        return bool(row is not None and str(row["significant"]).lower() == "true")

    def delta(self, system: str, measure: str) -> float | None:
        """Mean difference from the baseline (paired over the queries both have), when tested."""
        row = self.sig_row(system, measure)
        if row is None or pd.isna(row.get("delta")):
            return None
        return float(row["delta"])

    def describe(self, system: str) -> str:
        """The pipeline behind ``system`` as recorded in the provenance (empty when unknown)."""
        return str(self.provenance.get("pipelines", {}).get(system, ""))

    def provenance_lines(self) -> list[str]:
        p = self.provenance
        versions = p.get("versions", {})
        shown = ", ".join(f"{k} {v}" for k, v in versions.items()
                          if k in ("ragif", "python", "pyserini", "ir-measures", "torch", "pandas"))
        git = p.get("git", {}) or {}
        commit = (git.get("commit") or "unknown")[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
        ds = p.get("dataset", {})
        sig = p.get("significance", {})
        return [
            f"experiment {p.get('experiment', '?')}; dataset {ds.get('name', '?')} ({ds.get('split', '?')}, "
            f"{ds.get('queries', '?')} queries)",
            f"{MARK}: significantly different from the baseline ({self.baseline}), {sig.get('test', 't-test')}, "
            f"{sig.get('correction', 'holm')} correction, alpha {sig.get('alpha', 0.05)}",
            f"config hash {p.get('config_hash', '?')}; seed {p.get('seed', '?')}; commit {commit}; "
            f"first computed {p.get('date', '?')}",
            f"versions: {shown}",
        ] + self._model_lines()

    def _model_lines(self) -> list[str]:
        """Which model computed each model-based measure (BERTScore, NLI, LLM judges; METEOR's stages)."""
        details = []
        for measure, info in (self.provenance.get("measure_info") or {}).items():
            extra = {k: v for k, v in info.items() if k not in ("kind", "lower_is_better")}
            if extra:
                details.append(f"{measure}: " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        return [f"models: {'; '.join(details)}"] if details else []

    def plot_files(self) -> list[Path]:
        """The plots written next to the tables (``*.png`` with an ``.svg`` twin), in name order."""
        if self.folder is None:
            return []
        found = sorted(p for p in self.folder.glob("*.png") if p.with_suffix(".svg").exists())
        order = {f"deltas-{file_stem(m)}": i for i, m in enumerate(self.table.columns)}  # measure order first
        return sorted(found, key=lambda p: (order.get(p.stem, len(order)), p.name))

    # ------------------------------------------------------------------ formats
    def markdown(self, digits: int = 4) -> str:
        """A GitHub/pandoc pipe table: best per column in bold, † = significant vs. the baseline."""
        measures = list(self.table.columns)
        header = [_md_escape(m) + (" ↓" if self.lower_is_better(m) else "") for m in measures]
        lines = ["| System | " + " | ".join(header) + " |", "|:---|" + "---:|" * len(measures)]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = EMPTY if pd.isna(v) else f"{v:.{digits}f}" + (MARK if self.is_significant(system, m) else "")
                cells.append(f"**{text}**" if self.is_best(system, m, digits) else text)
            name = _md_escape(system) + (" (baseline)" if system == self.baseline else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        legend = "Best value per column in **bold**" + ("; ↓ = lower is better" if any(
            self.lower_is_better(m) for m in measures) else "") + "."
        notes = [f"{EMPTY if pd.isna(self.table.loc[n['system'], n['measure']]) else 'n'}: {_md_escape(n['system'])}, "
                 f"{_md_escape(n['measure'])}: {n['text']}" for n in self.notes()]
        footer = "\n".join(f"> {line}" for line in [legend, *notes, *self.provenance_lines()])
        return "\n".join(lines) + "\n\n" + footer + "\n"

    def latex(self, digits: int = 4, caption: str | None = None, label: str | None = None) -> str:
        """A booktabs table (``\\usepackage{booktabs}``): best per column bold, ``$^\\dagger$`` =
        significant vs. the baseline (set in ``\\rlap`` so the numbers stay aligned), provenance as
        comments. Paste the ``table`` environment into a paper."""
        measures = list(self.table.columns)
        header = [latex_escape(m) + (r"\,$\downarrow$" if self.lower_is_better(m) else "") for m in measures]
        out = [r"% ragif leaderboard; needs \usepackage{booktabs}",
               r"\begin{table}[t]", r"\centering",
               r"\begin{tabular}{@{}l" + "r" * len(measures) + "@{}}",
               r"\toprule", "System & " + " & ".join(header) + r" \\", r"\midrule"]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = "--" if pd.isna(v) else f"{v:.{digits}f}"
                if self.is_best(system, m, digits):
                    text = rf"\textbf{{{text}}}"
                if self.is_significant(system, m):
                    text += r"\rlap{$^\dagger$}"
                cells.append(text)
            name = latex_escape(system) + (" (baseline)" if system == self.baseline else "")
            out.append(name + " & " + " & ".join(cells) + r" \\")
            if system == self.baseline and self.table.index[0] == system and len(self.table) > 1:
                out.append(r"\midrule")
        out += [r"\bottomrule", r"\end{tabular}"]
        sig = self.provenance.get("significance", {})
        cap = caption if caption is not None else (
            f"{latex_escape(str(self.provenance.get('experiment', 'Results')))}. Best value per column in bold; "
            f"$^\\dagger$: significantly different from {latex_escape(str(self.baseline))} "
            f"({latex_escape(str(sig.get('test', 't-test')))}, {latex_escape(str(sig.get('correction', 'holm')))} "
            f"correction, $\\alpha={sig.get('alpha', 0.05)}$)." + (" --: not applicable." if self.table.isna().any().any()
                                                                   else ""))
        tab_label = label or "tab:" + "".join(c if c.isalnum() or c in "-:" else "-"
                                             for c in str(self.provenance.get("experiment", "results")))
        out += [rf"\caption{{{cap}}}", rf"\label{{{tab_label}}}", r"\end{table}"]
        notes = [f"{n['system']}, {n['measure']}: {n['text']}" for n in self.notes()]
        out.append("% " + "\n% ".join([*notes, *self.provenance_lines()]))
        return "\n".join(out) + "\n"

    def html(self, digits: int = 4) -> str:
        """A standalone page (inline CSS and JS, plots inlined, nothing fetched)."""
        from rag.report.html import render_html

        return render_html(self, digits)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  ">": r"\textgreater{}", "<": r"\textless{}", "†": r"$^\dagger$"}


def _visible(text: str) -> str:
    """Line breaks, tabs and other control or invisible characters as spaces (a table row stays one row)."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (one pass, so replacements are never escaped again); line breaks
    and other control characters become spaces (a blank line would end the table's paragraph)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in _visible(text))


def _md_escape(text: str) -> str:
    """One table cell: backslashes and pipes escaped (so ``\\|`` cannot end the cell), line breaks and other
    control characters as spaces."""
    return _visible(text).replace("\\", "\\\\").replace("|", r"\|")


FORMATS = ("md", "html", "tex", "plots")


def write_boards(folder: str | Path, formats: Sequence[str] = ("md", "html", "tex")) -> list[Path]:
    """Write the leaderboards of a results folder; returns the files written.

    Formats: ``md`` (leaderboard.md), ``html`` (leaderboard.html), ``tex`` (leaderboard.tex), ``plots``
    (``deltas-<measure>.png|svg`` from :func:`rag.report.plots.write_plots`, written first so the page shows them),
    ``csv`` (results.csv is always there).
    """
    folder = Path(folder)
    formats = [f.strip() for f in formats if f.strip()]
    for fmt in formats:
        if fmt not in (*FORMATS, "csv", "latex"):
            raise InputError(f"unknown leaderboard format {fmt!r}; use md, html, tex, plots, csv", field="format")
    written: list[Path] = []
    board = Board.load(folder)
    if "plots" in formats:
        from rag.report.plots import write_plots

        written += write_plots(folder)
    for fmt in formats:
        if fmt == "md":
            path, text = folder / "leaderboard.md", board.markdown()
        elif fmt == "html":
            path, text = folder / "leaderboard.html", board.html()
        elif fmt in ("tex", "latex"):
            path, text = folder / "leaderboard.tex", board.latex()
        else:
            continue
        atomic_write_text(path, text)
        written.append(path)
    return written
