"""Leaderboards from a results folder: Markdown, LaTeX (booktabs) and a standalone HTML page.

Best value per column in bold; a dagger marks a significant difference from the baseline (after
correction); every table carries its provenance (config hash, versions, git commit, date).
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import InputError
from rag.core.files import file_stem

LOWER_IS_BETTER = {"FaithCritic", "latency", "seconds", "cost", "tokens"}
MARK = "†"


def lower_is_better(measure: str) -> bool:
    return any(measure.startswith(m) for m in LOWER_IS_BETTER)


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
        table = pd.read_csv(results, dtype={"system": str}).set_index("system")
        sig_path = folder / "significance.csv"
        sig = pd.read_csv(sig_path, dtype={"system": str}) if sig_path.exists() and sig_path.stat().st_size > 1 \
            else pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"])
        prov_path = folder / "provenance.json"
        provenance = json.loads(prov_path.read_text("utf-8")) if prov_path.exists() else {}
        pq_path = folder / "per_query.csv"
        per_query = pd.read_csv(pq_path, dtype={"system": str, "qid": str}) if pq_path.exists() else None
        return cls(table, sig, provenance, per_query, folder)

    # ------------------------------------------------------------------ helpers
    @property
    def baseline(self) -> str | None:
        return self.provenance.get("baseline")

    def best(self, measure: str) -> float:
        col = self.table[measure]
        return col.min() if lower_is_better(measure) else col.max()

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
        ]

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
        header = [_md_escape(m) + (" ↓" if lower_is_better(m) else "") for m in measures]
        lines = ["| System | " + " | ".join(header) + " |", "|:---|" + "---:|" * len(measures)]
        for system in self.table.index:
            cells = []
            for m in measures:
                v = self.table.loc[system, m]
                text = "–" if pd.isna(v) else f"{v:.{digits}f}" + (MARK if self.is_significant(system, m) else "")
                cells.append(f"**{text}**" if self.is_best(system, m, digits) else text)
            name = _md_escape(system) + (" (baseline)" if system == self.baseline else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        legend = "Best value per column in **bold**" + ("; ↓ = lower is better" if any(
            lower_is_better(m) for m in measures) else "") + "."
        footer = "\n".join(f"> {line}" for line in [legend, *self.provenance_lines()])
        return "\n".join(lines) + "\n\n" + footer + "\n"

    def latex(self, digits: int = 4, caption: str | None = None, label: str | None = None) -> str:
        """A booktabs table (``\\usepackage{booktabs}``): best per column bold, ``$^\\dagger$`` =
        significant vs. the baseline (set in ``\\rlap`` so the numbers stay aligned), provenance as
        comments. Paste the ``table`` environment into a paper."""
        measures = list(self.table.columns)
        header = [latex_escape(m) + (r"\,$\downarrow$" if lower_is_better(m) else "") for m in measures]
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
            f"correction, $\\alpha={sig.get('alpha', 0.05)}$).")
        tab_label = label or "tab:" + "".join(c if c.isalnum() or c in "-:" else "-"
                                             for c in str(self.provenance.get("experiment", "results")))
        out += [rf"\caption{{{cap}}}", rf"\label{{{tab_label}}}", r"\end{table}"]
        out.append("% " + "\n% ".join(self.provenance_lines()))
        return "\n".join(out) + "\n"

    def html(self, digits: int = 4) -> str:
        """A standalone page (inline CSS and JS, plots inlined, nothing fetched)."""
        return render_html(self, digits)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  ">": r"\textgreater{}", "<": r"\textless{}", "†": r"$^\dagger$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (one pass, so replacements are never escaped again)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


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


_CSS = """
:root{--fg:#1d2330;--muted:#5a6273;--line:#e3e6ec;--best:#e3f4e6;--up:#1d7a36;--down:#b5301f;--hover:#f2f4f8}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:var(--fg);background:#fff}
h1{font-size:1.4rem;margin-bottom:.2rem} h2{font-size:1.1rem;margin-top:2rem} .lead{color:var(--muted)}
table{border-collapse:collapse;margin:1rem 0;font-variant-numeric:tabular-nums}
th,td{padding:.35rem .7rem;border-bottom:1px solid var(--line);text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{border-bottom:2px solid var(--fg);cursor:pointer;user-select:none;white-space:nowrap}
thead th:hover,thead th:focus{background:var(--hover);outline:none}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:.7em}
th[aria-sort=descending]::after{content:" \\25BC";font-size:.7em}
td.best{font-weight:700;background:var(--best)}
.sig{font-weight:700;margin-left:.1em} .sig.up{color:var(--up)} .sig.down{color:var(--down)}
tr.baseline td:first-child::after{content:" (baseline)";color:var(--muted)}
tbody tr:hover{background:var(--hover)} tr:target{outline:2px solid #1f5fbf}
td.up{color:var(--up)} td.down{color:var(--down)}
footer{margin-top:2rem;font-size:.85rem;color:var(--muted);border-top:1px solid var(--line);padding-top:.8rem}
details{margin:.6rem 0} summary{cursor:pointer;font-weight:600} details:target summary{color:#1f5fbf}
a{color:#1f5fbf;text-decoration:none} a:hover{text-decoration:underline} .back{font-weight:400;margin-left:1em}
figure{margin:1rem 0} figure img{max-width:min(100%,56rem);border:1px solid var(--line)} figcaption{color:var(--muted)}
pre{background:#f6f7f9;padding:.6rem;overflow:auto;font-size:.8rem}
"""

_JS = """
(function(){
  function key(cell){
    var v = cell.getAttribute('data-value');
    if (v === null || v === '') return {empty: true};
    var n = parseFloat(v);
    return isNaN(n) ? {text: v} : {num: n};
  }
  function compare(a, b){
    if (a.empty || b.empty) return 0;
    if (a.num !== undefined && b.num !== undefined) return a.num - b.num;
    return String(a.text !== undefined ? a.text : a.num).localeCompare(String(b.text !== undefined ? b.text : b.num),
                                                                       undefined, {numeric: true});
  }
  function sortBy(table, th, col){
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var current = th.getAttribute('aria-sort');
    var first = th.getAttribute('data-first') || 'ascending';
    var order = current ? (current === 'ascending' ? 'descending' : 'ascending') : first;
    table.querySelectorAll('thead th').forEach(function(h){ h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', order);
    var sign = order === 'ascending' ? 1 : -1;
    rows.map(function(r, i){ return {row: r, key: key(r.cells[col]), i: i}; })
      .sort(function(a, b){
        if (a.key.empty !== b.key.empty) return a.key.empty ? 1 : -1;   /* missing values last */
        return sign * compare(a.key, b.key) || a.i - b.i;                 /* stable */
      })
      .forEach(function(x){ body.appendChild(x.row); });
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('thead th').forEach(function(th, col){
      th.tabIndex = 0;
      th.addEventListener('click', function(){ sortBy(table, th, col); });
      th.addEventListener('keydown', function(e){
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  function openTarget(){
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') el.open = true;
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
"""


def _anchor(system: str, prefix: str = "pq-") -> str:
    return prefix + "".join(c if c.isalnum() else "-" for c in system)


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _leaderboard_rows(board: Board, measures: list[str], digits: int) -> list[str]:
    e = html.escape
    rows = []
    for system in board.table.index:
        has_pq = board.per_query is not None and (board.per_query["system"] == system).any()
        name = f'<a href="#{_anchor(system)}">{e(system)}</a>' if has_pq else e(system)
        described = board.describe(system)
        cells = [f'<td data-value="{e(system)}" title="{e(described)}">{name}</td>']
        for m in measures:
            v = board.table.loc[system, m]
            if pd.isna(v):
                cells.append('<td data-value="">–</td>')
                continue
            text = _fmt(v, digits)
            sig = board.sig_row(system, m)
            hover = []
            if sig is not None:
                delta = board.delta(system, m)
                if delta is not None:
                    hover.append(f"Δ {delta:+.{digits}f} vs. {board.baseline}")
                if pd.notna(sig.get("p_adjusted")):
                    hover.append(f"p (adjusted) = {float(sig['p_adjusted']):.3g}")
            if board.is_significant(system, m):
                delta = board.delta(system, m) or 0.0
                better = (delta < 0) if lower_is_better(m) else (delta > 0)
                word = "better" if better else "worse"
                text += (f'<span class="sig {"up" if better else "down"}" '
                         f'title="significantly {word} than {e(str(board.baseline))}">{MARK}</span>')
            cls = ' class="best"' if board.is_best(system, m, digits) else ""
            title = f' title="{e("; ".join(hover))}"' if hover else ""
            cells.append(f'<td{cls}{title} data-value="{v:.10g}">{text}</td>')
        row_cls = ' class="baseline"' if system == board.baseline else ""
        rows.append(f'<tr id="{_anchor(system, "row-")}"{row_cls}>' + "".join(cells) + "</tr>")
    return rows


def _per_query_sections(board: Board, measures: list[str], digits: int) -> list[str]:
    e = html.escape
    if board.per_query is None or not len(board.per_query):
        return []
    wide_all = board.per_query.pivot_table(index="qid", columns=["system", "measure"], values="value",
                                           aggfunc="first")
    base = board.baseline
    sections = []
    for system in board.table.index:
        if system not in wide_all.columns.get_level_values(0):
            continue
        wide = wide_all[system]
        wide = wide.reindex(columns=[m for m in measures if m in wide.columns]).dropna(how="all")
        base_wide = wide_all[base].reindex(index=wide.index, columns=wide.columns) \
            if base is not None and base != system and base in wide_all.columns.get_level_values(0) else None
        body = []
        for qid, values in zip(wide.index, wide.to_numpy()):
            cells = [f'<td data-value="{e(str(qid))}">{e(str(qid))}</td>']
            for m, v in zip(wide.columns, values):
                if pd.isna(v):
                    cells.append('<td data-value="">–</td>')
                    continue
                cls, title = "", ""
                if base_wide is not None and pd.notna(base_wide.loc[qid, m]):
                    b = float(base_wide.loc[qid, m])
                    d = v - b
                    if abs(d) > 1e-12:
                        better = (d < 0) if lower_is_better(m) else (d > 0)
                        cls = ' class="up"' if better else ' class="down"'
                    title = f' title="{e(str(base))}: {_fmt(b, digits)} (Δ {d:+.{digits}f})"'
                cells.append(f'<td{cls}{title} data-value="{v:.10g}">{_fmt(v, digits)}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        note = f"; green/red: better/worse than {e(str(base))} on that query" if base_wide is not None else ""
        sections.append(
            f'<details id="{_anchor(system)}"><summary>{e(system)}: per-query values ({len(wide)} queries)'
            f'<a class="back" href="#{_anchor(system, "row-")}">↑ leaderboard row</a></summary>'
            f'<p class="lead">{e(board.describe(system))}{note}</p>'
            f'<table class="sortable"><thead><tr><th>qid</th>'
            + "".join(f'<th data-first="descending">{e(m)}</th>' for m in wide.columns)
            + f"</tr></thead><tbody>{''.join(body)}</tbody></table></details>")
    return sections


def _plot_figures(board: Board) -> list[str]:
    figures = []
    for png in board.plot_files():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        caption = html.escape(png.stem.replace("_", " "))
        figures.append(f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                       f'<figcaption>{caption}: {html.escape(png.name)} and {html.escape(png.stem)}.svg in the '
                       f'results folder</figcaption></figure>')
    return figures


def render_html(board: Board, digits: int = 4) -> str:
    """A standalone page (inline CSS and JS, no network): sortable leaderboard with best values and
    significance marked, per-query tables linked both ways to the leaderboard rows, the plots of the
    results folder inlined, provenance in the footer and on hover."""
    e = html.escape
    measures = list(board.table.columns)
    title = board.provenance.get("experiment", "ragif leaderboard")
    head = "".join(f'<th data-first="{"ascending" if lower_is_better(m) else "descending"}" '
                   f'title="{"lower is better" if lower_is_better(m) else "higher is better"}; click to sort">'
                   f'{e(m)}</th>' for m in measures)
    rows = _leaderboard_rows(board, measures, digits)
    sections = _per_query_sections(board, measures, digits)
    figures = _plot_figures(board)
    described = "".join(f'<li><a href="#{_anchor(k, "row-")}"><b>{e(k)}</b></a>: <code>{e(board.describe(k))}</code>'
                        f'</li>' for k in board.table.index if board.describe(k))
    footer = "<br>".join(e(line) for line in board.provenance_lines())
    full = e(json.dumps(board.provenance, indent=2, sort_keys=True))
    ds = board.provenance.get("dataset", {})
    lead = (f"{e(str(ds.get('name', '?')))} ({e(str(ds.get('split', '?')))}, {e(str(ds.get('queries', '?')))} "
            f"queries). Click a column header to sort; best value per column highlighted; {MARK} = significantly "
            f"different from the baseline ({e(str(board.baseline))}), green better, red worse; hover a value for "
            f"its difference and p-value, a system for its pipeline.")
    plots = ("<h2>Plots</h2>" + "".join(figures)) if figures else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p class="lead">{lead}</p>
<table class="sortable" id="leaderboard"><thead><tr><th data-first="ascending">System</th>{head}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>Systems</h2><ul>{described}</ul>
{plots}
<h2>Per-query results</h2>
{''.join(sections) or '<p>No per-query values.</p>'}
<footer id="provenance">{footer}
<details><summary>Full provenance</summary><pre>{full}</pre></details></footer>
<script>{_JS}</script>
</body></html>
"""
