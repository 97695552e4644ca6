"""Leaderboards from a results folder: Markdown, LaTeX (booktabs) and a standalone HTML page.

Best value per column in bold; a dagger marks a significant difference from the baseline (after
correction); every table carries its provenance (config hash, versions, git commit, date).
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .cache import atomic_write_text
from .errors import InputError

LOWER_IS_BETTER = {"FaithCritic", "latency", "seconds", "cost", "tokens"}
MARK = "†"


def lower_is_better(measure: str) -> bool:
    return any(measure.startswith(m) for m in LOWER_IS_BETTER)


class Board:
    """The content of a leaderboard, read from a folder written by ``ExperimentResults.save``."""

    def __init__(self, table: pd.DataFrame, significance: pd.DataFrame, provenance: dict[str, Any],
                 per_query: pd.DataFrame | None = None):
        self.table = table
        self.significance = significance
        self.provenance = provenance
        self.per_query = per_query

    @classmethod
    def load(cls, folder: str | Path) -> "Board":
        folder = Path(folder)
        results = folder / "results.csv"
        if not results.exists():
            raise InputError("not a results folder (no results.csv)", path=folder)
        table = pd.read_csv(results, dtype={"system": str}).set_index("system")
        sig_path = folder / "significance.csv"
        sig = pd.read_csv(sig_path, dtype={"system": str}) if sig_path.exists() and sig_path.stat().st_size > 1 \
            else pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"])
        prov_path = folder / "provenance.json"
        provenance = json.loads(prov_path.read_text("utf-8")) if prov_path.exists() else {}
        pq_path = folder / "per_query.csv"
        per_query = pd.read_csv(pq_path, dtype={"system": str, "qid": str}) if pq_path.exists() else None
        return cls(table, sig, provenance, per_query)

    # ------------------------------------------------------------------ helpers
    @property
    def baseline(self) -> str | None:
        return self.provenance.get("baseline")

    def best(self, measure: str) -> float:
        col = self.table[measure]
        return col.min() if lower_is_better(measure) else col.max()

    def is_best(self, system: str, measure: str) -> bool:
        value = self.table.loc[system, measure]
        return pd.notna(value) and abs(value - self.best(measure)) < 1e-12

    def sig_row(self, system: str, measure: str) -> pd.Series | None:
        if self.significance.empty:
            return None
        hit = self.significance[(self.significance["system"] == system) & (self.significance["measure"] == measure)]
        return hit.iloc[0] if len(hit) else None

    def is_significant(self, system: str, measure: str) -> bool:
        row = self.sig_row(system, measure)
        return bool(row is not None and str(row["significant"]).lower() == "true")

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
        ]

    # ------------------------------------------------------------------ formats
    def markdown(self, digits: int = 4) -> str:
        measures = list(self.table.columns)
        lines = ["| System | " + " | ".join(measures) + " |", "|---|" + "---:|" * len(measures)]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = "–" if pd.isna(v) else f"{v:.{digits}f}" + (MARK if self.is_significant(system, m) else "")
                cells.append(f"**{text}**" if self.is_best(system, m) else text)
            name = f"{system} (baseline)" if system == self.baseline else system
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        footer = "\n".join(f"> {line}" for line in self.provenance_lines())
        return "\n".join(lines) + "\n\n" + footer + "\n"

    def latex(self, digits: int = 4, caption: str | None = None) -> str:
        measures = list(self.table.columns)

        def esc(text: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                         ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), (">>", r"$\gg$"), ("@", "@")):
                text = text.replace(a, b)
            return text

        out = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * len(measures) + "}",
               r"\toprule", "System & " + " & ".join(esc(m) for m in measures) + r" \\", r"\midrule"]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = "--" if pd.isna(v) else f"{v:.{digits}f}"
                if self.is_best(system, m):
                    text = rf"\textbf{{{text}}}"
                if self.is_significant(system, m):
                    text += r"$^\dagger$"
                cells.append(text)
            out.append(esc(system) + " & " + " & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        cap = caption or (f"{self.provenance.get('experiment', '')}: $\\dagger$ significant vs. "
                          f"{esc(str(self.baseline))} ({self.provenance.get('significance', {}).get('test', 't-test')}, "
                          f"{self.provenance.get('significance', {}).get('correction', 'holm')}).")
        out += [rf"\caption{{{cap}}}", r"\end{table}"]
        out.append("% " + "\n% ".join(self.provenance_lines()))
        return "\n".join(out) + "\n"

    def html(self, digits: int = 4) -> str:
        return render_html(self, digits)


def write_boards(folder: str | Path, formats: Sequence[str] = ("md", "html", "tex")) -> list[Path]:
    """Write the leaderboards of a results folder; returns the files written."""
    folder = Path(folder)
    board = Board.load(folder)
    written = []
    for fmt in formats:
        if fmt == "csv":
            continue  # results.csv is the CSV leaderboard
        if fmt == "md":
            path, text = folder / "leaderboard.md", board.markdown()
        elif fmt == "html":
            path, text = folder / "leaderboard.html", board.html()
        elif fmt in ("tex", "latex"):
            path, text = folder / "leaderboard.tex", board.latex()
        else:
            raise InputError(f"unknown leaderboard format {fmt!r}; use md, html, tex, csv", field="format")
        atomic_write_text(path, text)
        written.append(path)
    return written


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;background:#fff}
h1{font-size:1.4rem;margin-bottom:.2rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .7rem;border-bottom:1px solid #e3e6ec;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid #1d2330;cursor:pointer;user-select:none;white-space:nowrap}
thead th:hover{background:#f2f4f8}
th.sorted-asc::after{content:" \\25B2";font-size:.7em} th.sorted-desc::after{content:" \\25BC";font-size:.7em}
td.best{font-weight:700;background:#eaf6ec}
.sig{color:#b5301f;font-weight:700} tr.baseline td:first-child::after{content:" (baseline)";color:#6b7385}
footer{margin-top:2rem;font-size:.85rem;color:#4a5263;border-top:1px solid #e3e6ec;padding-top:.8rem}
details{margin:.6rem 0} summary{cursor:pointer;font-weight:600}
a{color:#1f5fbf;text-decoration:none} a:hover{text-decoration:underline}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('thead th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('thead th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-value'), y = b.cells[col].getAttribute('data-value');
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? cmp : -cmp;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
function openTarget(){
  var id = decodeURIComponent(location.hash.slice(1));
  var target = id && document.getElementById(id);
  if (target && target.tagName === 'DETAILS') { target.open = true; target.scrollIntoView(); }
}
window.addEventListener('hashchange', openTarget);
openTarget();
"""


def _anchor(system: str) -> str:
    return "pq-" + "".join(c if c.isalnum() else "-" for c in system)


def render_html(board: Board, digits: int = 4) -> str:
    """A standalone page (inline CSS and JS, no network): sortable leaderboard, provenance, per-query tables."""
    e = html.escape
    measures = list(board.table.columns)
    title = board.provenance.get("experiment", "ragif leaderboard")
    head = "".join(f'<th title="{"lower is better" if lower_is_better(m) else "higher is better"}">{e(m)}</th>'
                   for m in measures)
    rows = []
    for system in board.table.index:
        cells = [f'<td data-value="{e(system)}"><a href="#{_anchor(system)}">{e(system)}</a></td>']
        for m in measures:
            v = board.table.loc[system, m]
            if pd.isna(v):
                cells.append('<td data-value="">–</td>')
                continue
            text = f"{v:.{digits}f}"
            sig = board.sig_row(system, m)
            if board.is_significant(system, m):
                text += f'<span class="sig" title="p (adjusted) = {float(sig["p_adjusted"]):.3g}">{MARK}</span>'
            elif sig is not None and pd.notna(sig.get("p_adjusted")):
                text = f'<span title="p (adjusted) = {float(sig["p_adjusted"]):.3g}">{text}</span>'
            cls = ' class="best"' if board.is_best(system, m) else ""
            cells.append(f'<td{cls} data-value="{v:.10g}">{text}</td>')
        row_cls = ' class="baseline"' if system == board.baseline else ""
        rows.append(f"<tr{row_cls}>" + "".join(cells) + "</tr>")
    sections = []
    if board.per_query is not None and len(board.per_query):
        for system in board.table.index:
            sub = board.per_query[board.per_query["system"] == system]
            wide = sub.pivot_table(index="qid", columns="measure", values="value", aggfunc="first")
            wide = wide.reindex(columns=[m for m in measures if m in wide.columns])
            body = "".join("<tr><td data-value=\"" + e(str(q)) + "\">" + e(str(q)) + "</td>" +
                           "".join(f'<td data-value="{v:.10g}">{v:.{digits}f}</td>' for v in r) + "</tr>"
                           for q, r in zip(wide.index, wide.to_numpy()))
            sections.append(
                f'<details id="{_anchor(system)}"><summary>{e(system)}: per-query values ({len(wide)} queries)'
                f'</summary><p><a href="#leaderboard">back to the leaderboard</a></p>'
                f'<table class="sortable"><thead><tr><th>qid</th>'
                + "".join(f"<th>{e(m)}</th>" for m in wide.columns) + f"</tr></thead><tbody>{body}</tbody></table>"
                "</details>")
    pipelines = board.provenance.get("pipelines", {})
    described = "".join(f"<li><b>{e(k)}</b>: <code>{e(v)}</code></li>" for k, v in pipelines.items())
    footer = "<br>".join(e(line) for line in board.provenance_lines())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p>Click a column header to sort. Best value per column highlighted; {MARK} = significant vs. the baseline.</p>
<table class="sortable" id="leaderboard"><thead><tr><th>System</th>{head}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Systems</h2><ul>{described}</ul>
<h2>Per-query results</h2>
{''.join(sections) or '<p>No per-query values.</p>'}
<footer id="provenance">{footer}</footer>
<script>{_JS}</script>
</body></html>
"""
