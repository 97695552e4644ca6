"""The standalone leaderboard page, rendered from a Jinja2 template (autoescaped) with static CSS and JS
inlined: nothing is fetched when the page is opened."""
from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:   # the page renders a Board; the board module imports this one
    from rag.report.board import Board

HERE = Path(__file__).parent


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


def _cell(board: "Board", system: str, measure: str, digits: int) -> dict[str, Any]:
    value = board.table.loc[system, measure]
    if pd.isna(value):
        return {"value": None, "note": board.note(system, measure) or "no value"}
    hover = []
    sig = board.sig_row(system, measure)
    if sig is not None:
        delta = board.delta(system, measure)
        if delta is not None:
            hover.append(f"Δ {delta:+.{digits}f} vs. {board.baseline}")
        if pd.notna(sig.get("p_adjusted")):
            hover.append(f"p (adjusted) = {float(sig['p_adjusted']):.3g}")
    note = board.note(system, measure)
    if note:
        hover.append(note)
    delta = board.delta(system, measure) or 0.0
    better = (delta < 0) if board.lower_is_better(measure) else (delta > 0)
    return {"value": f"{value:.10g}", "text": f"{value:.{digits}f}", "best": board.is_best(system, measure, digits),
            "hover": "; ".join(hover), "sig": board.is_significant(system, measure), "better": better}


def _sections(board: "Board", measures: list[str], digits: int) -> list[dict[str, Any]]:
    if board.per_query is None or not len(board.per_query):
        return []
    wide_all = board.per_query.pivot_table(index="qid", columns=["system", "measure"], values="value",
                                           aggfunc="first", dropna=False)
    systems = set(wide_all.columns.get_level_values(0))
    base = board.baseline
    stems = anchors(list(board.table.index))
    sections = []
    for system in board.table.index:
        if system not in systems:
            continue
        wide = wide_all[system]
        wide = wide.reindex(columns=[m for m in measures if m in wide.columns]).dropna(how="all")
        compared = base is not None and base != system and base in systems
        base_wide = wide_all[base].reindex(index=wide.index, columns=wide.columns) if compared else None
        rows = []
        for qid, values in zip(wide.index, wide.to_numpy()):
            cells = []
            for m, v in zip(wide.columns, values):
                if pd.isna(v):
                    cells.append({"value": None})
                    continue
                cls, hover = "", ""
                if base_wide is not None and pd.notna(base_wide.loc[qid, m]):
                    b = float(base_wide.loc[qid, m])
                    d = v - b
                    if abs(d) > 1e-12:
                        cls = "up" if ((d < 0) if board.lower_is_better(m) else (d > 0)) else "down"
                    hover = f"{base}: {b:.{digits}f} (Δ {d:+.{digits}f})"
                cells.append({"value": f"{v:.10g}", "text": f"{v:.{digits}f}", "cls": cls, "hover": hover})
            rows.append({"qid": str(qid), "cells": cells})
        sections.append({"system": system, "anchor": "pq-" + stems[system], "row_anchor": "row-" + stems[system],
                         "described": board.describe(system), "compared": compared, "measures": list(wide.columns),
                         "rows": rows})
    return sections


def render_html(board: "Board", digits: int = 4) -> str:
    """A standalone page: sortable leaderboard with best values and significance marked, empty cells
    explained, per-query tables linked both ways to the leaderboard rows, the folder's plots inlined,
    provenance in the footer and on hover."""
    measures = list(board.table.columns)
    per_query_systems = set(board.per_query["system"]) if board.per_query is not None else set()
    stems = anchors(list(board.table.index))
    rows = [{"system": s, "anchor": "row-" + stems[s], "pq_anchor": "pq-" + stems[s],
             "baseline": s == board.baseline, "per_query": s in per_query_systems, "described": board.describe(s),
             "cells": [_cell(board, s, m, digits) for m in measures]} for s in board.table.index]
    figures = [{"caption": png.stem.replace("_", " "), "name": png.name, "stem": png.stem,
                "data": base64.b64encode(png.read_bytes()).decode("ascii")} for png in board.plot_files()]
    ds = board.provenance.get("dataset", {})
    context = {
        "title": board.provenance.get("experiment", "ragif leaderboard"),
        "dataset": f"{ds.get('name', '?')} ({ds.get('split', '?')}, {ds.get('queries', '?')} queries)",
        "baseline": str(board.baseline), "mark": "†",
        "measures": [{"name": m, "kind": board.kind(m), "lower": board.lower_is_better(m)} for m in measures],
        "rows": rows, "notes": board.notes(), "figures": figures,
        "sections": _sections(board, measures, digits), "footer": board.provenance_lines(),
        "provenance": json.dumps(board.provenance, indent=2, sort_keys=True),
        "css": _static("leaderboard.css"), "js": _static("leaderboard.js"),
    }
    return _environment().get_template("leaderboard.html.j2").render(**context)
