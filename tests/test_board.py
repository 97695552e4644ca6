"""Leaderboard exports that paste into a paper: Markdown and LaTeX (booktabs, best in bold, daggers for
significance), escaping of awkward system names, and a real pdflatex run when TeX is installed."""
from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.report.board import Board, latex_escape, write_boards

NASTY = "BM25 | k1=0.9 & b_0.4 {100%} #1 $x$ ~^\\"


@pytest.fixture()
def board() -> Board:
    table = pd.DataFrame({"nDCG@10": [0.6789, 0.70004, 0.64, float("nan")],
                          "R@100": [0.9253, 0.92534, 0.90, 0.91],
                          "latency": [12.0, 30.0, 9.5, 40.0]},
                         index=pd.Index(["BM25", "dense", "<b>x</b>", NASTY], name="system"))
    sig = pd.DataFrame([
        {"system": "dense", "measure": "nDCG@10", "delta": 0.0211, "p_adjusted": 0.003, "significant": True},
        {"system": "dense", "measure": "R@100", "delta": 0.00004, "p_adjusted": 0.9, "significant": False},
        {"system": "<b>x</b>", "measure": "nDCG@10", "delta": -0.0389, "p_adjusted": 0.01, "significant": True},
        {"system": "<b>x</b>", "measure": "latency", "delta": -2.5, "p_adjusted": 0.2, "significant": False},
    ])
    provenance = {"experiment": "scifact_bm25", "baseline": "BM25", "config_hash": "abc123",
                  "dataset": {"name": "scifact", "split": "test", "queries": 300},
                  "significance": {"test": "t-test", "correction": "holm", "alpha": 0.05},
                  "pipelines": {"BM25": "LuceneBM25(k1=0.9)", "dense": "DenseRetriever()"}}
    return Board(table, sig, provenance)


def _row(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def _gfm_cells(row: str) -> list[str]:
    """The cells of a pipe-table row as GitHub reads them: a backslash escapes the next character, an
    unescaped pipe ends the cell; escapes are then resolved."""
    cells, current, chars = [], "", iter(row.strip())
    for char in chars:
        if char == "\\":
            current += char + next(chars, "")
        elif char == "|":
            cells.append(current)
            current = ""
        else:
            current += char
    cells.append(current)
    return [re.sub(r"\\(.)", r"\1", c.strip()) for c in cells[1:-1]]


def test_markdown_marks_best_significance_and_escapes(board):
    md = board.markdown()
    assert md.startswith("| System | nDCG@10 | R@100 | latency ↓ |\n|:---|---:|---:|---:|\n")
    assert _row(md, "| BM25 (baseline)") == "| BM25 (baseline) | 0.6789 | **0.9253** | 12.0000 |"
    # 0.70004 is best; 0.92534 prints like 0.9253, so both are bold; the dagger sits inside the bold
    assert _row(md, "| dense") == "| dense | **0.7000†** | **0.9253** | 30.0000 |"
    assert _row(md, "| <b>x</b>") == "| <b>x</b> | 0.6400† | 0.9000 | **9.5000** |"   # lower latency is better
    nasty = _row(md, "| BM25 \\| k1")
    assert _gfm_cells(nasty) == [NASTY, "–", "0.9100", "40.0000"]                  # NaN shown as –
    assert "> †: significantly different from the baseline (BM25), t-test, holm" in md


def test_latex_is_booktabs_with_bold_best_and_daggers(board):
    tex = board.latex(digits=3)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{@{}lrrr@{}}"):
        assert rule in tex
    assert r"\hline" not in tex
    assert r"System & nDCG@10 & R@100 & latency\,$\downarrow$ \\" in tex
    assert r"dense & \textbf{0.700}\rlap{$^\dagger$} & \textbf{0.925} & 30.000 \\" in tex
    assert r"\textless{}b\textgreater{}x\textless{}/b\textgreater{} & 0.640\rlap{$^\dagger$}" in tex
    assert r"BM25 (baseline) & 0.679 & \textbf{0.925} & 12.000 \\" + "\n" + r"\midrule" in tex
    assert r"\label{tab:scifact-bm25}" in tex and r"\caption{scifact\_bm25. Best value per column in bold" in tex
    assert all(line.startswith("%") for line in tex.split(r"\end{table}")[1].strip().splitlines())


def test_latex_escape_is_one_pass():
    assert latex_escape("a_b & c\\{x}") == r"a\_b \& c\textbackslash{}\{x\}"
    assert latex_escape("100% #1 $x$ ~^") == r"100\% \#1 \$x\$ \textasciitilde{}\textasciicircum{}"


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex not installed (apt-get install texlive-latex-base)")
def test_latex_compiles(board, tmp_path):
    document = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs,graphicx}\n"
                "\\begin{document}\n" + board.latex() + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_html_escapes_names_and_is_standalone(board):
    page = board.html()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert 'class="sig up"' in page and 'class="sig down"' in page                 # dense better, <b>x</b> worse
    assert "Δ +0.0211 vs. BM25; p (adjusted) = 0.003" in page
    assert "http://" not in page and "https://" not in page


def test_unknown_format_is_a_clear_error(tmp_path, board):
    board.table.reset_index().to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(InputError, match="unknown leaderboard format 'pdf'"):
        write_boards(tmp_path, formats=["md", "pdf"])
    assert not (tmp_path / "leaderboard.md").exists()                              # nothing half-written
    with pytest.raises(InputError, match="no results.csv"):
        write_boards(tmp_path / "missing")


AWKWARD = ["line\nbreak", "a|b", "a-b", "back\\|slash", "tab\there", "NA", "null", "", "x,y", 'say "hi"', "<script>x</script>",
           "\\"]


def _awkward_board() -> Board:
    table = pd.DataFrame({"nDCG@10": [0.1 * (i + 1) for i in range(len(AWKWARD))]},
                         index=pd.Index(AWKWARD, name="system"))
    return Board(table, pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"]),
                 {"experiment": "awkward", "baseline": "NA"})


def test_markdown_rows_stay_rows_whatever_the_system_name():
    md = _awkward_board().markdown()
    rows = [line for line in md.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(AWKWARD)                                              # no name broke a row
    for name, row in zip(AWKWARD, rows):
        cells = _gfm_cells(row)
        assert len(cells) == 2, row
        shown = " ".join(name.split("\n")).replace("\t", " ") + (" (baseline)" if name == "NA" else "")
        assert cells[0] == shown, (name, row)


def test_latex_rows_stay_rows_whatever_the_system_name():
    tex = _awkward_board().latex()
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    rows = [line for line in body.splitlines() if line.strip()]
    assert len(rows) == len(AWKWARD) and all(line.endswith(r"\\") for line in rows)
    assert "\n\n" not in tex.split(r"\end{tabular}")[0]                           # a blank line would end the cell
    assert r"line break & " in tex and r"a\textbar" not in tex and r"back\textbackslash{}|slash" in tex


def test_html_rows_have_distinct_anchors_and_escaped_names():
    page = _awkward_board().html()
    ids = re.findall(r'<tr id="([^"]+)"', page)
    assert len(ids) == len(AWKWARD) == len(set(ids))                             # a|b and a-b do not collide
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_results_csv_round_trip_keeps_every_system_name(tmp_path):
    from rag.experiment.results import ExperimentResults

    board = _awkward_board()
    per_query = pd.DataFrame({"system": AWKWARD, "qid": ["NA"] * len(AWKWARD), "measure": "nDCG@10",
                              "value": board.table["nDCG@10"].tolist()})
    results = ExperimentResults("awkward", board.table, per_query, board.significance, {}, board.provenance, "NA")
    results.save(tmp_path, formats=("csv", "md"), save_runs=False, plots=False)
    back = Board.load(tmp_path)
    assert back.table.index.tolist() == AWKWARD
    assert back.table["nDCG@10"].tolist() == pytest.approx(board.table["nDCG@10"].tolist())
    assert back.per_query["qid"].tolist() == ["NA"] * len(AWKWARD)               # an id "NA" is not missing
    assert (tmp_path / "leaderboard.md").read_text("utf-8").count("\n| ") == len(AWKWARD)   # rows after the header
