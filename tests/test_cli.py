"""The command line: `ragif run` (default demo experiment), `eval`, `board`, `datasets`, and error exits."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main
from rag.cli.run import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parents[1]


RETRIEVAL = str(REPO / "experiments" / "demo_retrieval.yaml")


def test_bare_run_is_the_rag_chain_on_the_demo_set(bare_run):
    """README command 1: closed-book vs retrieve-then-read, ranking + answer + cost columns in one board (the
    session's one bare run, on the default job's first 2 questions: see conftest.bare_run)."""
    assert bare_run.code == 0
    assert bare_run.configs[:1] == [DEFAULT_CONFIG] == [REPO / "rag" / "configs" / "default.yaml"]  # read first
    # BM25 (k1 0.9, b 0.4) on q01 and q02; over all 14 questions it is 0.8315 (test_eval_a_run_file, the slow test)
    _check_the_bare_run_board(bare_run.out, bare_run.folder, bm25_ndcg="0.9202")


@pytest.mark.slow   # 56 reader calls with the offline Qwen: 2-4.5 minutes on 2 cores
def test_bare_run_on_all_14_questions(tmp_path, capsys):
    """README command 1 as a user runs it: the whole default job."""
    assert main(["run", "-o", str(tmp_path / "demo")]) == 0
    _check_the_bare_run_board(capsys.readouterr().out, tmp_path / "demo", bm25_ndcg="0.8315")


def _check_the_bare_run_board(out: str, folder: Path, bm25_ndcg: str) -> None:
    header = out.splitlines()[0]
    for measure in ("nDCG@10", "EM", "F1", "K-Precision", "LLMTokens"):
        assert measure in header
    bm25 = next(line for line in out.splitlines() if line.startswith(("| BM25 → reader", "| BM25 ")))
    assert bm25_ndcg in bm25                                        # BM25's ranking under its reader, as before
    if "closed-book (baseline)" in out:                             # an LLM runtime works here
        closed = next(line for line in out.splitlines() if line.startswith("| closed-book"))
        assert closed.split("|")[2].strip() == "–"                  # no ranking: empty, not zero
        assert "no ranking: the system retrieves nothing (closed-book)" in out
    assert (folder / "leaderboard.html").exists()


def test_eval_a_run_file(tmp_path, capsys):
    main(["run", RETRIEVAL, "-o", str(tmp_path / "demo")])
    capsys.readouterr()
    qrels = REPO / "rag" / "datasets" / "demo" / "qrels" / "test.tsv"
    assert main(["eval", str(tmp_path / "demo" / "runs" / "BM25.trec"), str(qrels), "-m", "nDCG@10", "P@1"]) == 0
    lines = dict(line.split("\tall\t") for line in capsys.readouterr().out.strip().splitlines())
    assert float(lines["nDCG@10"]) == pytest.approx(0.8315, abs=1e-4)


def test_board_rewrites_leaderboards(tmp_path, capsys):
    main(["run", RETRIEVAL, "-o", str(tmp_path / "demo")])
    (tmp_path / "demo" / "leaderboard.md").unlink()
    assert main(["board", str(tmp_path / "demo"), "--format", "md"]) == 0
    assert (tmp_path / "demo" / "leaderboard.md").exists()


def test_bad_input_exits_2_with_a_one_line_message(tmp_path, capsys):
    bad = tmp_path / "run.trec"
    bad.write_text("1 Q0 a 1 notanumber t\n")
    qrels = REPO / "rag" / "datasets" / "demo" / "qrels" / "test.tsv"
    assert main(["eval", str(bad), str(qrels)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ragif: error:") and "run.trec:1" in err and "Traceback" not in err


def test_console_script_entry_point(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "datasets"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and "scifact" in done.stdout and "built in" in done.stdout


def test_datasets_lists_splits_counts_qrels_and_corpus(capsys):
    assert main(["datasets"]) == 0
    demo = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("demo"))
    assert "test: 14 questions (qrels, gold answers); corpus of 36 documents" in demo
