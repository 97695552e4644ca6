"""Every bad input through the real command line (``rag.cli`` run as ``__main__``, each case in a process of
its own): a one-line ``ragif: error:`` naming file and line, exit code 2, and never a raw traceback; legal inputs
exit 0.

The cases run once per session, each in a child forked from one process that imported the command line once
(``tests/cli_forker.py``: about 0.8 s of interpreter start and imports per case saved, 70 cases);
``test_no_raw_tracebacks`` counts tracebacks over all of them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORKER = Path(__file__).with_name("cli_forker.py")
QRELS = "1 0 d1 1\n1 0 d2 0\n2 0 d3 2\n"
RUN = "1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0 t\n2 Q0 d3 1 3.0 t\n"
HEAD = "name: x\ndataset: demo\n"
BM25 = "pipelines:\n  BM25: {bm25: {k1: 0.9}}\n"
CONFIG = HEAD + "measures: [nDCG@10]\n" + BM25
BOMB = "a0: &a0 [lol]\n" + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))


@dataclass
class CliCase:
    name: str
    argv: list[str]                         # "{t}" stands for the case's folder
    files: dict[str, str | bytes] = field(default_factory=dict)
    code: int = 2
    says: str = ""                          # in the error line (or in stdout when code is 0)
    where: str | None = None                # "file:line" the error line must name


def eval_case(name: str, run: str | bytes = RUN, qrels: str | bytes = QRELS, measures: tuple[str, ...] = ("nDCG@10",),
              code: int = 2, says: str = "", where: str | None = None, run_name: str = "run.trec",
              qrels_name: str = "qrels.txt") -> CliCase:
    return CliCase(name, ["eval", "{t}/" + run_name, "{t}/" + qrels_name, "-m", *measures],
                   {run_name: run, qrels_name: qrels}, code, says, where)


def run_case(name: str, config: str | bytes, code: int = 2, says: str = "", where: str | None = "exp.yaml") -> CliCase:
    return CliCase(name, ["run", "{t}/exp.yaml", "-o", "{t}/out"], {"exp.yaml": config}, code, says, where)


CASES = [
    # identifiers and labels
    eval_case("NUL byte in a run's document id", run=RUN + "2 Q0 d\x004 2 1.0 t\n", says="control character",
              where="run.trec:4"),
    eval_case("zero-width space in a run's query id", run="1\u200b Q0 d1 1 2.0 t\n", says="invisible format character",
              where="run.trec:1"),
    eval_case("space inside a BEIR qrels document id", qrels="query-id\tcorpus-id\tscore\n1\tBarack Obama\t1\n",
              says="contains whitespace", where="qrels.tsv:2", qrels_name="qrels.tsv"),
    eval_case("relevance label 1.7", qrels=QRELS + "2 0 d4 1.7\n", says="not an integer", where="qrels.txt:4"),
    eval_case("relevance label inf", qrels=QRELS + "2 0 d4 inf\n", says="not a finite number", where="qrels.txt:4"),
    eval_case("relevance label nan", qrels=QRELS + "2 0 d4 nan\n", says="not a finite number", where="qrels.txt:4"),
    eval_case("relevance label 1e400", qrels=QRELS + "2 0 d4 1e400\n", says="not a finite number", where="qrels.txt:4"),
    eval_case("relevance label 10**20", qrels=QRELS + "2 0 d4 100000000000000000000\n", says="out of range",
              where="qrels.txt:4"),
    eval_case("relevance label 2.0 (read as 2)", qrels=QRELS.replace("2 0 d3 2", "2 0 d3 2.0"), code=0,
              says="nDCG@10\tall\t1.0000"),
    # degenerate measures
    eval_case("measure P@0", measures=("P@0",), says="cut-off must be an integer from 1 to 1000000, got 0"),
    eval_case("measure RR@0", measures=("RR@0",), says="cut-off must be an integer from 1"),
    eval_case("measure nDCG@0", measures=("nDCG@0",), says="cut-off must be an integer from 1"),
    eval_case("measure nDCG@99999999999", measures=("nDCG@99999999999",), says="got 99999999999"),
    eval_case("measure AP(rel=0)", measures=("AP(rel=0)",), says="rel (the lowest relevant label) must be a positive"),
    eval_case("unknown measure parameter", measures=("nDCG(foo=1)@10",), says="foo"),
    eval_case("lower-case measure name (legal)", measures=("ndcg@10", "p@1"), code=0, says="nDCG@10\tall\t1.0000"),
    # files that are not what they should be
    CliCase("run path is a folder", ["eval", "{t}/somewhere", "{t}/qrels.txt"], {"somewhere/x": "", "qrels.txt": QRELS},
            says="is a folder", where="somewhere"),
    eval_case("corrupt gzip run", run=b"\x1f\x8bnot gzip at all", run_name="run.trec.gz", says="gzip",
              where="run.trec.gz"),
    eval_case("empty qrels file", qrels="", says="the qrels file is empty", where="qrels.txt"),
    eval_case("run and qrels swapped", run=QRELS, qrels=RUN, says="needs 6 fields", where="run.trec:1"),
    # configs: YAML
    run_case("exponential YAML aliases (billion laughs)", CONFIG + BOMB, says="expand too much", where="exp.yaml:"),
    run_case("recursive YAML alias", CONFIG + "x: &x [1, *x]\n", says="recursive alias", where="exp.yaml:6"),
    run_case("YAML nested 200 deep", CONFIG + "x: " + "[" * 200 + "]" * 200 + "\n", says="nested more than",
             where="exp.yaml:6"),
    run_case("config that is not UTF-8", b"name: \xff\xfe\n", says="not valid UTF-8", where="exp.yaml:1"),
    run_case("empty config", "", says="must be a mapping", where="exp.yaml"),
    CliCase("config path is a folder", ["run", "{t}/conf"], {"conf/x": ""}, says="is a folder", where="conf"),
    # configs: query selection
    run_case("queries.limit 0", CONFIG + "queries: {limit: 0}\n", says="positive integer", where="exp.yaml:6"),
    run_case("queries.limit -3", CONFIG + "queries:\n  limit: -3\n", says="got -3", where="exp.yaml:7"),
    run_case("queries.limit 2.5", CONFIG + "queries: {limit: 2.5}\n", says="got 2.5", where="exp.yaml:6"),
    run_case("queries.limit 'ten'", CONFIG + "queries: {limit: ten}\n", says="got 'ten'", where="exp.yaml:6"),
    run_case("queries.qids empty", CONFIG + "queries: {qids: []}\n", says="non-empty list", where="exp.yaml:6"),
    run_case("queries.qids all unknown", CONFIG + "queries: {qids: [nope, q99]}\n", says="none of the 2 query id(s)",
             where="exp.yaml:6"),
    run_case("queries.qids a float", CONFIG + "queries:\n  qids:\n    - q01\n    - 5.0\n", says="floating-point",
             where="exp.yaml:9"),
    run_case("queries.qids with a space", CONFIG + "queries: {qids: ['q 1']}\n", says="whitespace", where="exp.yaml:6"),
    run_case("queries.qids listed twice", CONFIG + "queries: {qids: [q01, q01]}\n", says="listed twice",
             where="exp.yaml:6"),
    run_case("queries.qids partly unknown (legal, warned)", CONFIG + "queries: {qids: [q01, q02, nope]}\n", code=0,
             says="| BM25 (baseline) |"),
    # configs: BM25 parameters (validated in Python, never a JVM trace)
    run_case("BM25 k1 -1", CONFIG.replace("k1: 0.9", "k1: -1"), says="k1 must be >= 0", where="exp.yaml:5"),
    run_case("BM25 b 1.5", CONFIG.replace("k1: 0.9", "b: 1.5"), says="b must be between 0", where="exp.yaml:5"),
    run_case("BM25 k 0", CONFIG.replace("k1: 0.9", "k: 0"), says="k must be an integer from 1", where="exp.yaml:5"),
    run_case("BM25 k1 .nan", CONFIG.replace("k1: 0.9", "k1: .nan"), says="finite number", where="exp.yaml:5"),
    # configs: measures and numbers
    run_case("measure P@0 in a config", HEAD + "measures:\n  - nDCG@10\n  - P@0\n" + BM25, says="got 0",
             where="exp.yaml:5"),
    run_case("measure AP(rel=0) in a config", HEAD + "measures: [AP(rel=0)]\n" + BM25, says="positive integer",
             where="exp.yaml:3"),
    run_case("unknown measure parameter in a config", HEAD + "measures: [nDCG(foo=1)@10]\n" + BM25, says="foo",
             where="exp.yaml:3"),
    run_case("seed 2**40", CONFIG + "seed: 1099511627776\n", says="seed must be an integer", where="exp.yaml:6"),
    run_case("alpha 5", CONFIG + "alpha: 5\n", says="between 0 and 1", where="exp.yaml:6"),
    run_case("unknown significance test", CONFIG + "test: ttest\n", says="did you mean 't-test'", where="exp.yaml:6"),
    run_case("unknown dataset", CONFIG.replace("dataset: demo", "dataset: demoo"), says="did you mean 'demo'",
             where="exp.yaml:2"),
    run_case("unknown split", CONFIG + "split: train\n", says="has no split 'train'", where="exp.yaml:6"),
    # tables for plots and meta-evaluation
    CliCase("plot of an empty table", ["plot", "scatter", "{t}/t.csv", "-x", "a", "-y", "b"], {"t.csv": ""},
            says="cannot parse table", where="t.csv"),
    CliCase("plot of a column that is not there", ["plot", "curve", "{t}/t.csv", "-x", "a", "-y", "zz"],
            {"t.csv": "a,b\n1,2\n"}, says="needs column(s) ['zz']"),
    CliCase("meta-eval of an empty table", ["meta-eval", "{t}/t.csv"], {"t.csv": ""}, says="cannot parse table",
            where="t.csv"),
    # results folders
    CliCase("board of a folder without results", ["board", "{t}"], {"x.txt": ""}, says="no results.csv", where=""),
    CliCase("board of an empty results.csv", ["board", "{t}"], {"results.csv": ""}, says="results.csv",
            where="results.csv"),
    CliCase("board of a results.csv without a system column", ["board", "{t}"], {"results.csv": "a,b\n1,2\n"},
            says="system", where="results.csv"),
    CliCase("board with a malformed provenance.json", ["board", "{t}"],
            {"results.csv": "system,nDCG@10\nA,0.5\n", "provenance.json": "{oops"}, says="malformed JSON",
            where="provenance.json:1"),
]


# ---------------------------------------------------------------- round 3 (issue 30): outputs, names, types, models
NOWHERE = "/nonexistent/model"
CLOSED_BOOK = "measures: [F1]\npipelines:\n  CB: {reader: {template: closed_book}}\n"


def _parquet(frame: dict) -> bytes:
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(frame).to_parquet(buffer)
    return buffer.getvalue()


ROUND_3 = [
    CliCase("-o names a file", ["run", "{t}/exp.yaml", "-o", "{t}/out"], {"exp.yaml": CONFIG, "out": "x"},
            says="is a file, not a folder (EEXIST)", where="out"),
    CliCase("-o inside a file", ["run", "{t}/exp.yaml", "-o", "{t}/f/sub"], {"exp.yaml": CONFIG, "f": "x"},
            says="is a file, not a folder (ENOTDIR)", where="f/sub"),
    CliCase("-o with a 300-byte name", ["run", "{t}/exp.yaml", "-o", "{t}/" + "o" * 300], {"exp.yaml": CONFIG},
            says="(ENAMETOOLONG)"),
    run_case("cross-encoder model /nonexistent/model", HEAD + "measures: [nDCG@10]\npipelines:\n"
             "  CE: [{bm25: {k: 10}}, {cross-encoder: {model: /nonexistent/model}}]\n",
             says="there is no folder /nonexistent/model", where="exp.yaml:5"),
    run_case("BERTScore model that is not there", HEAD + f"measures: [nDCG@10, 'BERTScore-F1(model={NOWHERE})']\n"
             + BM25, says="BERTScore model '/nonexistent/model' not found", where="exp.yaml:3"),
    CliCase("reader LLM .gguf that is an HTML page", ["run", "{t}/exp.yaml", "-o", "{t}/out"],
            {"exp.yaml": HEAD + "measures: [F1]\npipelines:\n  CB: {reader: {template: closed_book, llm: m.gguf}}\n",
             "m.gguf": "<!doctype html><title>404</title>"}, says="is not a GGUF file"),
    CliCase("train-reranker from a start model that is not there", ["train-reranker", "{t}/train.yaml"],
            {"train.yaml": f"output: m\ndataset: demo\nmodel: {NOWHERE}\n"},
            says="start encoder model '/nonexistent/model' not found"),
    CliCase("QA file whose question is an object", ["run", "{t}/exp.yaml", "-o", "{t}/out"],
            {"exp.yaml": "name: x\ndataset: q.jsonl\n" + CLOSED_BOOK,
             "q.jsonl": '{"question": "a", "answers": ["x"]}\n{"question": {"text": "b"}, "answers": ["y"]}\n'},
            says="must be question text, got an object", where="q.jsonl:2"),
    CliCase("parquet QA file whose question column is a struct", ["run", "{t}/exp.yaml", "-o", "{t}/out"],
            {"exp.yaml": "name: x\ndataset: q.parquet\n" + CLOSED_BOOK,
             "q.parquet": _parquet({"question": [{"text": "who?", "lang": "en"}], "answers": [["a"]]})},
            says="got an object {'text': 'who?', 'lang': 'en'}", where="q.parquet:1"),
    CliCase("BEIR query whose instruction is a list", ["run", "{t}/exp.yaml", "-o", "{t}/out"],
            {"exp.yaml": "name: x\ndataset: b\nmeasures: [nDCG@10]\npipelines:\n  BM25: {bm25: {}}\n",
             "b/corpus.jsonl": '{"_id": "d1", "text": "alpha"}\n',
             "b/queries.jsonl": '{"_id": "q1", "text": "alpha", "instruction": ["x", "y"]}\n',
             "b/qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n"},
            says="must be text, got a list ['x', 'y']", where="queries.jsonl:1"),
    eval_case("run file with CRLF line ends (legal)", run=RUN.replace("\n", "\r\n"), code=0,
              says="nDCG@10\tall\t1.0000"),
    eval_case("run file in UTF-16", run=RUN.encode("utf-16"), says="not valid UTF-8", where="run.trec:1"),
    eval_case("empty run file", run="", says="the run file is empty", where="run.trec"),
    run_case("system names '..', '/etc/passwd', 'CON' and 150 letters (legal, files stay in runs/)",
             HEAD + "measures: [nDCG@10]\npipelines:\n  '..': {bm25: {}}\n  /etc/passwd: {bm25: {k1: 1.1}}\n"
             "  CON: {bm25: {k1: 1.2}}\n  " + "x" * 150 + ": {bm25: {k1: 1.3}}\n", code=0, says="wrote "),
    CliCase("experiment name '../../escaped' (legal, under results/)", ["run", "{t}/exp.yaml"],
            {"exp.yaml": CONFIG.replace("name: x", "name: ../../escaped")}, code=0, says="results/_.._escaped/"),
]
CASES += ROUND_3


_ROOT: list[Path] = []


def _folder_name(case: CliCase) -> str:
    return "".join(c if c.isalnum() else "_" for c in case.name)


def _job(case: CliCase, root: Path, logs: Path, env: dict[str, str]) -> dict:
    folder = root / _folder_name(case)
    folder.mkdir(parents=True)
    for name, body in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
    argv = [a.replace("{t}", str(folder)) for a in case.argv]
    return {"argv": argv, "cwd": str(folder), "env": env, "stdout": str(logs / f"{_folder_name(case)}.out"),
            "stderr": str(logs / f"{_folder_name(case)}.err")}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    root, logs = tmp_path_factory.mktemp("cli-bad-input"), tmp_path_factory.mktemp("cli-bad-input-logs")
    _ROOT[:] = [root]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAGIF_CACHE": str(root / "cache")}
    jobs = [_job(case, root, logs, env) for case in CASES]
    (logs / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    forker = subprocess.run([sys.executable, str(FORKER), str(logs / "jobs.json"), "2"], capture_output=True,
                            text=True, env=env, cwd=root, timeout=1200)
    assert forker.returncode == 0, forker.stderr[-3000:]
    codes = json.loads(forker.stdout.strip().splitlines()[-1])
    read = lambda path: Path(path).read_text(encoding="utf-8", errors="replace")  # noqa: E731
    return {case.name: subprocess.CompletedProcess(job["argv"], code, read(job["stdout"]), read(job["stderr"]))
            for case, job, code in zip(CASES, jobs, codes)}


def test_the_cli_table_has_at_least_55_cases():
    assert len(CASES) >= 55 + len(ROUND_3) and len({c.name for c in CASES}) == len(CASES)


def test_no_case_wrote_outside_its_folder(outcomes, tmp_path_factory):
    """Every case ran with its own folder as the working directory: nothing may appear beside the folders."""
    root = _ROOT[0]
    assert sorted(p.name for p in root.iterdir() if p.name != "cache") == sorted(_folder_name(c) for c in CASES)
    escaped = root / _folder_name(ROUND_3[-1]) / "results" / "_.._escaped"
    assert (escaped / "results.csv").exists()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli_bad_input(case: CliCase, outcomes):
    done = outcomes[case.name]
    assert done.returncode == case.code, done.stderr[-2000:]
    if case.code == 0:
        assert case.says in done.stdout, done.stdout[-2000:]
        return
    errors = [line for line in done.stderr.splitlines() if line.startswith("ragif: error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert case.says in errors[0], errors[0]
    if case.where:
        assert case.where in errors[0], errors[0]


def test_no_raw_tracebacks(outcomes):
    tracebacks = {name: done.stderr for name, done in outcomes.items() if "Traceback (most recent call last)" in
                  done.stderr}
    print(f"\n{len(outcomes)} CLI cases, {len(tracebacks)} raw traceback(s)")
    assert not tracebacks, {name: err[-600:] for name, err in tracebacks.items()}
