"""The standalone leaderboard page, rendered from a Jinja2 template (autoescaped) with static CSS and JS
inlined: nothing is fetched when the page is opened.

Its size grows with systems x measures, not with questions: each system's per-query table shows the first
:data:`PER_QUERY_ROWS` questions (natural order) and links ``per_query.csv`` for the rest.
"""
from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rag.report.content import BoardContent
from rag.report.tables import natural_order


HERE = Path(__file__).parent
PER_QUERY_ROWS = 500   # questions per system shown on the page; all of them are in per_query.csv


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                              autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
                              trim_blocks=False, lstrip_blocks=False)


def _static(name: str) -> Any:
    from markupsafe import Markup

    return Markup((HERE / "static" / name).read_text("utf-8"))   # our own files: inlined as they are


def anchor(system: str, prefix: str = "pq-") -> str:
    return prefix + "".join(c if c.isalnum() else "-" for c in system)


def anchors(systems: list[str]) -> dict[str, str]:
    """A distinct anchor stem per system (``a|b`` and ``a-b`` would otherwise share one)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for system in systems:
        stem = anchor(system, "")
        candidate, n = stem, 1
        while candidate in used:
            n += 1
            candidate = f"{stem}-{n}"
        used.add(candidate)
        out[system] = candidate
    return out


def _cell(board: BoardContent, system: str, measure: str, digits: Any) -> dict[str, Any]:
    value = board.table.loc[system, measure]
    if pd.isna(value):
        return {"value": None, "note": board.note(system, measure) or "no value"}
    hover = []
    sig = board.sig_row(system, measure)
    delta = board.delta(system, measure)
    if sig is not None:
        if delta is not None:
            hover.append(f"Δ {delta:+.{board.digits(measure, digits)}f} vs. {board.baseline}")
        if pd.notna(sig.get("p_adjusted")):
            hover.append(f"p (adjusted) = {float(sig['p_adjusted']):.3g}")
    note = board.note(system, measure) or ("not tested: constant within a system" if board.untested(system, measure)
                                           else None)
    if note:
        hover.append(note)
    delta = delta or 0.0
    better = (delta < 0) if board.lower_is_better(measure) else (delta > 0)
    return {"value": f"{value:.10g}", "text": board.fmt(value, measure, digits),
            "best": board.is_best(system, measure, digits), "hover": "; ".join(hover),
            "sig": board.is_significant(system, measure), "better": better}


def _column_cells(board: BoardContent, measure: str, values: np.ndarray, base: np.ndarray | None,
                  digits: Any) -> list[dict[str, Any]]:
    """The cells of one measure's column of a per-query table (classes from the differences, vectorised)."""
    places = board.digits(measure, digits)
    cls = np.full(len(values), "", dtype=object)
    if base is not None:
        d = values - base
        direction = board.direction(measure)
        sign = -1.0 if direction == "lower" else 1.0
        known = ~np.isnan(d) & (np.abs(d) > 1e-12) & (direction is not None)
        cls[known & (sign * d > 0)] = "up"
        cls[known & (sign * d < 0)] = "down"
    out = []
    for i, v in enumerate(values.tolist()):
        if v != v:   # NaN: the measure does not apply to this question
            out.append({"value": None})
            continue
        cell = {"value": f"{v:.10g}", "text": f"{v:.{places}f}", "cls": cls[i], "hover": ""}
        if base is not None and base[i] == base[i]:
            cell["hover"] = f"{board.baseline}: {base[i]:.{places}f} (Δ {v - base[i]:+.{places}f})"
        out.append(cell)
    return out


def _sections(board: BoardContent, measures: list[str], digits: Any, rows: int) -> list[dict[str, Any]]:
    per_query = board.per_query
    if per_query is None or not len(per_query):
        return []
    questions = natural_order(per_query["qid"].unique())
    shown = questions[:rows]
    page = per_query[per_query["qid"].isin(set(shown))] if len(shown) < len(questions) else per_query
    wide_all = page.pivot_table(index="qid", columns=["system", "measure"], values="value", aggfunc="first",
                                dropna=False, sort=False)
    systems = set(wide_all.columns.get_level_values(0))
    base = board.baseline
    stems = anchors(list(board.table.index))
    counts = per_query.dropna(subset=["value"]).groupby("system")["qid"].nunique()
    sections = []
    for system in board.table.index:
        if system not in systems:
            continue
        wide = wide_all[system].reindex(index=[q for q in shown if q in wide_all.index])
        wide = wide.reindex(columns=[m for m in measures if m in wide.columns]).dropna(how="all")
        compared = base is not None and base != system and base in systems
        base_wide = wide_all[base].reindex(index=wide.index, columns=wide.columns) if compared else None
        columns = [_column_cells(board, m, wide[m].to_numpy(dtype=float),
                                 base_wide[m].to_numpy(dtype=float) if base_wide is not None else None, digits)
                   for m in wide.columns]
        table_rows = [{"qid": str(q), "cells": [col[i] for col in columns]} for i, q in enumerate(wide.index)]
        sections.append({"system": system, "anchor": "pq-" + stems[system], "row_anchor": "row-" + stems[system],
                         "described": board.describe(system), "compared": compared, "measures": list(wide.columns),
                         "rows": table_rows, "total": int(counts.get(system, len(table_rows)))})
    return sections


def render_html(board: BoardContent, digits: Any = None, per_query_rows: int = PER_QUERY_ROWS) -> str:
    """A standalone page: sortable leaderboard with best values and significance marked, empty cells
    explained, per-query tables (the first ``per_query_rows`` questions; per_query.csv has all) linked both
    ways to the leaderboard rows, the folder's plots inlined, provenance in the footer and on hover."""
    measures = list(board.table.columns)
    per_query = board.per_query
    per_query_systems = set(per_query["system"]) if per_query is not None else set()
    stems = anchors(list(board.table.index))
    rows = [{"system": s, "anchor": "row-" + stems[s], "pq_anchor": "pq-" + stems[s],
             "baseline": s == board.baseline, "per_query": s in per_query_systems, "described": board.describe(s),
             "cells": [_cell(board, s, m, digits) for m in measures]} for s in board.table.index]
    figures = [{"caption": png.stem.replace("_", " "), "name": png.name, "stem": png.stem,
                "data": base64.b64encode(png.read_bytes()).decode("ascii")} for png in board.plot_files()]
    ds = board.provenance.get("dataset", {})
    sections = _sections(board, measures, digits, per_query_rows)
    context = {
        "title": board.provenance.get("experiment", "ragif leaderboard"),
        "dataset": f"{ds.get('name', '?')} ({ds.get('split', '?')}, {ds.get('queries', '?')} queries)",
        "baseline": str(board.baseline), "mark": "†",
        "measures": [{"name": m, "kind": board.kind(m), "direction": board.direction(m)} for m in measures],
        "rows": rows, "notes": board.notes(), "figures": figures, "legend": [line.replace("**", "") for line in
                                                                           board.legend()[1:]],
        "sections": sections, "footer": board.provenance_lines(),
        "per_query_file": "per_query.csv" if board.folder is not None else None,
        "provenance": json.dumps(board.provenance, indent=2, sort_keys=True),
        "css": _static("leaderboard.css"), "js": _static("leaderboard.js"),
    }
    return _environment().get_template("leaderboard.html.j2").render(**context)
