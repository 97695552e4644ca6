"""What measures declare reaches the board: direction (best value), kind, digits; no significance test on a
measure constant within a system; n per measure; a note on verbose answers; LaTeX that fits the text width;
`ragif board --digits`; `ragif eval` in the order asked, natural query order, BEIR folders; reports whose
size does not grow with the questions."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from rag.cli import main
from rag.core.cache import Cache
from rag.core.registry import unregister
from rag.datasets import load_dataset, write_qrels, write_run
from rag.evaluation import register_measure
from rag.evaluation.significance import significance
from rag.experiment import Experiment
from rag.experiment.results import ExperimentResults
from rag.readers import Reader
from rag.report import plots
from rag.report.board import Board, write_boards
from tests.test_rag_experiment import AnswerFromPassages, _bm25

MAIN_JOB = ["nDCG@10", "R@3", "EM", "F1", "Recall", "K-Precision", "LLMTokens", "LLMSeconds"]


class AnswerWords:
    """Words in the answer: shorter is better (a custom measure of the issue's example)."""

    def __init__(self, name: str = "AnswerWords"):
        self.name = name

    def per_query(self, results, qrels):
        return pd.Series(results["answer"].str.split().str.len().astype(float).to_numpy(),
                         index=results["qid"].to_numpy())


@pytest.fixture()
def answer_words():
    register_measure("AnswerWords", AnswerWords, kind="correctness", better="lower", digits=1)
    yield
    unregister("AnswerWords", "measure")


def test_a_declared_direction_decides_the_best_value_on_the_board(answer_words, tmp_path):
    demo = load_dataset("demo")
    llm = AnswerFromPassages()
    systems = {"closed-book": Reader(llm=llm, template="closed_book"), "BM25>reader": _bm25(demo) >> Reader(llm=llm, passages=3)}
    results = Experiment(systems, demo, ["AnswerWords", "RetrievalRate", "EM"], baseline="closed-book",
                         cache=Cache(tmp_path / "c")).run()
    assert results.table.loc["closed-book", "AnswerWords"] < results.table.loc["BM25>reader", "AnswerWords"]
    info = results.provenance["measure_info"]["AnswerWords"]
    assert (info["better"], info["kind"], info["digits"]) == ("lower", "correctness", 1)
    md = Board(results.table, results.significance, results.provenance).markdown()
    row = next(line for line in md.splitlines() if line.startswith("| closed-book"))
    assert re.search(r"\*\*\d+\.\d\*\*", row)                      # the shorter answers are best, one decimal
    assert "AnswerWords ↓" in md
    # RetrievalRate is 1 for every question of BM25>reader and 0 for closed-book: constant, so no test
    sig = results.significance.set_index(["system", "measure"])
    assert not sig.loc[("BM25>reader", "RetrievalRate"), "tested"]
    assert not sig.loc[("BM25>reader", "RetrievalRate"), "significant"]
    rate = next(line for line in md.splitlines() if line.startswith("| BM25>reader"))
    assert "1.0000†" not in rate and "not tested for significance" in md


def test_an_undeclared_direction_marks_no_best():
    table = pd.DataFrame({"Mystery": [1.0, 2.0], "nDCG@10": [0.5, 0.6]}, index=pd.Index(["a", "b"], name="system"))
    provenance = {"baseline": "a", "measure_info": {"Mystery": {"kind": "custom", "better": None},
                                                    "nDCG@10": {"kind": "ranking", "better": "higher"}}}
    board = Board(table, pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"]), provenance)
    md = board.markdown()
    assert "**1.0000**" not in md and "**2.0000**" not in md and "**0.6000**" in md
    assert "no best marked for Mystery (direction not declared)" in md
    assert r"\textbf{2.0000}" not in board.latex()


def test_significance_is_not_tested_on_a_measure_constant_within_a_system():
    n = 20
    rng = np.random.default_rng(0)
    rows = []
    for system, rate, em in (("closed-book", 0.0, rng.random(n) < 0.2), ("always", 1.0, rng.random(n) < 0.9),
                             ("router", None, rng.random(n) < 0.5)):
        rates = np.full(n, rate) if rate is not None else (np.arange(n) % 2).astype(float)
        rows += [{"system": system, "qid": f"q{i}", "measure": "RetrievalRate", "value": rates[i]} for i in range(n)]
        rows += [{"system": system, "qid": f"q{i}", "measure": "EM", "value": float(em[i])} for i in range(n)]
    sig = significance(pd.DataFrame(rows), "closed-book").set_index(["system", "measure"])
    assert not sig.loc[("always", "RetrievalRate"), "tested"] and np.isnan(sig.loc[("always", "RetrievalRate"), "p_value"])
    assert not sig.loc[("router", "RetrievalRate"), "tested"]      # the baseline is constant too
    assert sig.loc[("always", "EM"), "tested"] and sig.loc[("always", "EM"), "significant"]


def _main_job_board(per_query: bool = False) -> Board:
    systems = ["closed-book", "BM25 → reader", "MiniLM → reader", "RRF → reader"]
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rng.random((4, len(MAIN_JOB))), columns=MAIN_JOB, index=pd.Index(systems, name="system"))
    table.loc["closed-book", ["nDCG@10", "R@3", "K-Precision"]] = np.nan
    table.loc["BM25 → reader", ["EM", "Recall"]] = [0.0, 0.6]
    table["LLMTokens"] = [64.5714, 164.2857, 171.0, 170.1429]
    table["LLMSeconds"] = [1.2345, 3.4567, 3.5, 3.6]
    from rag.evaluation.measures import measure_info

    provenance = {"experiment": "demo", "baseline": "closed-book", "measure_info": {m: measure_info(m) for m in MAIN_JOB},
                  "n": {s: {m: 14 for m in MAIN_JOB if not pd.isna(table.loc[s, m])} for s in systems},
                  "dataset": {"name": "demo", "split": "test", "queries": 14}}
    provenance["n"]["BM25 → reader"]["R@3"] = 12
    return Board(table, pd.DataFrame(columns=["system", "measure", "p_adjusted", "significant"]), provenance)


def test_digits_per_measure_n_per_measure_and_the_verbose_answers_note():
    board = _main_job_board()
    md = board.markdown()
    row = next(line for line in md.splitlines() if line.startswith("| BM25 → reader"))
    assert "| 164.3 |" in row and "164.2857" not in md                 # tokens: one decimal
    assert re.search(r"\| 3\.46 \|", row)                              # seconds: two
    assert "n (questions scored): nDCG@10 14; R@3 12–14; EM 14" in md
    note = next(line for line in md.splitlines() if "Adlakha" in line)
    assert "EM and F1 penalise answers longer than the gold answer" in note and "Recall suits verbose answers" in note
    assert "BM25 → reader: EM 0.0000, Recall 0.6000" in note
    three = board.markdown(digits=3)
    assert "| 164.3 |" in three and not re.search(r"\d\.\d{4}\b", three.split("\n\n")[0])
    assert "| 164 |" in board.markdown(digits="3,LLMTokens=0")


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex not installed (apt-get install texlive-latex-base)")
def test_latex_table_of_the_main_job_fits_the_text_width(tmp_path):
    tex = _main_job_board().latex()
    assert r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%" in tex
    document = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs,graphicx}\n"
                "\\begin{document}\n" + tex + "\\end{document}\n")
    (tmp_path / "t.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "t.log").read_text("latin-1")
    assert "Overfull \\hbox" not in log, log[-3000:]


def test_board_command_digits(tmp_path, capsys):
    board = _main_job_board()
    per_query = pd.DataFrame([{"system": s, "qid": f"q{i}", "measure": m, "value": float(board.table.loc[s, m])}
                              for s in board.table.index for m in MAIN_JOB for i in range(3)
                              if not pd.isna(board.table.loc[s, m])])
    results = ExperimentResults("demo", board.table, per_query, significance(per_query, "closed-book"), {},
                                board.provenance, "closed-book")
    results.save(tmp_path / "r", formats=("csv",), save_runs=False, plots=False)
    assert main(["board", str(tmp_path / "r"), "--digits", "2", "--format", "md,tex", "--cache", str(tmp_path / "c")]) == 0
    md = (tmp_path / "r" / "leaderboard.md").read_text("utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| BM25 → reader"))
    assert "| 0.00 |" in row and "| 164.3 |" in row
    assert main(["board", str(tmp_path / "r"), "--digits", "two"]) == 2
    assert "digits" in capsys.readouterr().err


def test_eval_prints_measures_in_the_order_asked_queries_in_natural_order_and_reads_beir_folders(tmp_path, capsys):
    run = pd.DataFrame({"qid": ["q10", "q10", "q2", "q1"], "docno": ["d1", "d2", "d3", "d1"], "score": [2.0, 1.0, 1.0, 1.0]})
    qrels = pd.DataFrame({"qid": ["q1", "q2", "q10"], "docno": ["d1", "d4", "d2"], "label": [1, 1, 1]})
    write_run(run, tmp_path / "run.trec")
    (tmp_path / "beir" / "qrels").mkdir(parents=True)
    qrels.rename(columns={"qid": "query-id", "docno": "corpus-id", "label": "score"}).to_csv(
        tmp_path / "beir" / "qrels" / "test.tsv", sep="\t", index=False)
    assert main(["eval", str(tmp_path / "run.trec"), str(tmp_path / "beir"), "-m", "RR", "P@1", "AP", "--per-query"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(line for line in out if line.strip().startswith("RR") or line.split()[:3] == ["RR", "P@1", "AP"])
    assert header.split() == ["RR", "P@1", "AP"]
    qids = [line.split()[0] for line in out if re.match(r"q\d+\s", line)]
    assert qids == ["q1", "q2", "q10"]
    assert [line.split("\t")[0] for line in out if "\tall\t" in line] == ["RR", "P@1", "AP"]
    write_qrels(qrels, tmp_path / "qrels.txt")
    assert main(["eval", str(tmp_path / "run.trec"), str(tmp_path / "qrels.txt"), "-m", "RR"]) == 0
    assert main(["eval", str(tmp_path / "run.trec"), str(tmp_path / "beir"), "--split", "dev"]) == 2
    assert "no qrels for split 'dev'" in capsys.readouterr().err


def _many_questions(n: int, systems=("base", "sys")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"system": s, "qid": f"q{i}", "measure": m, "value": float(rng.random())}
                         for s in systems for m in ("nDCG@10", "EM") for i in range(n)])


def test_the_page_and_the_plots_do_not_grow_with_the_questions(tmp_path):
    per_query = _many_questions(3000)
    table = per_query.pivot_table(index="system", columns="measure", values="value", sort=False)[["nDCG@10", "EM"]]
    table.columns.name = None
    provenance = {"experiment": "many", "baseline": "base", "measures": ["nDCG@10", "EM"],
                  "dataset": {"name": "x", "split": "test", "queries": 3000}}
    results = ExperimentResults("many", table, per_query, significance(per_query, "base"), {}, provenance, "base")
    cache = Cache(tmp_path / "cache")
    results.cache = cache
    folder = results.save(tmp_path / "r", save_runs=False)
    page = (folder / "leaderboard.html").read_text("utf-8")
    assert "the first 500 of 3000 queries" in page and 'href="per_query.csv"' in page
    assert page.count("<tr><td data-value=") <= 2 * 500
    svg = (folder / "deltas-nDCG_10.svg").stat().st_size
    assert svg < 150_000, svg                                       # a curve, not 3,000 bars
    # the same values in another row order: the same plot, stored once
    shuffled = per_query.sample(frac=1.0, random_state=1).reset_index(drop=True)
    plots.write_plots(folder, cache=cache, per_query=shuffled)
    assert len([p for p in (tmp_path / "cache" / "plots").iterdir() if not p.name.startswith(".")]) == 2
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "plots").iterdir()}
    write_boards(folder, formats=["md", "plots"], cache=cache)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "plots").iterdir()} == before


def test_a_few_questions_still_get_one_bar_each(tmp_path):
    per_query = _many_questions(40)
    written = plots.per_query_deltas(per_query, "base", "EM", tmp_path / "d")
    assert written and (tmp_path / "d.svg").read_text("utf-8").count("<path") >= 40
