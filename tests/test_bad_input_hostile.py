"""The bad-input table, round 3 (issue 30): file systems, names that become paths, fields of the wrong type,
models that are not there, spreadsheet formulas and pickled checkpoints, plus what a hostile new user tries
(encodings, CRLF, huge lines, empty files, numbers as ids). Same harness as tests/test_bad_input.py: each
case is a one-line error naming file, line and field, or legal input with the result it must give.

Where each check lives: output folders and file stems ``rag/core/files.py``; results writing
``rag/experiment/results.py``; field types ``rag/core/fields.py``; models ``rag/models.py``; spreadsheet copies
``rag/experiment/spreadsheet.py``; checkpoints ``rerankers/training/checkpoint.py``; Ctrl-C
``rag/cli/interrupt.py`` (tests/test_interrupt.py) and the command-line cases in tests/test_bad_input_cli.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from rag.core.errors import ConfigError, InputError, OutputError
from rag.core.files import file_stem, file_stems, writable_folder
from rag.core.schema import validate_queries
from rag.datasets import load_beir, load_dataset, load_qa_file, read_qrels, read_run
from rag.datasets.followir import load_followir
from rag.evaluation import parse_measure
from tests.test_bad_input import CORPUS, QUERIES, Case, beir, file

NOWHERE = "/nonexistent/model"


def parquet(root: Path, name: str, frame: dict) -> Path:
    path = root / name
    pd.DataFrame(frame).to_parquet(path)
    return path


def followir(root: Path, queries: str = '{"_id": "q1", "text": "x", "instruction_og": "a", '
                                          '"instruction_changed": "b"}\n',
             top: str = '{"qid": "q1", "pid": ["d1"]}\n') -> Path:
    for name, body in (("corpus.jsonl", CORPUS), ("queries.jsonl", queries), ("qrels_og.tsv", "q1\t0\td1\t1\n"),
                       ("qrels_changed.tsv", "q1\t0\td1\t0\n"), ("top_ranked.jsonl", top)):
        (root / name).write_text(body, "utf-8")
    return root


def hf_folder(root: Path, rows: dict) -> Path:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict(rows).save_to_disk(str(root / "hf"))
    return root / "hf"


def _cross_encoder(model: str):
    from rerankers.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker(model)


def _gguf(path: str):
    from rag.llm.backends.llamacpp import LlamaCppLLM

    return LlamaCppLLM.from_spec(path)


def _offline_hub_name(monkeypatch_env: dict, name: str):
    from rag.models import locate_model

    old = {k: os.environ.get(k) for k in monkeypatch_env}
    os.environ.update(monkeypatch_env)
    try:
        import huggingface_hub.constants as constants
        was, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
        try:
            return locate_model(name, "cross-encoder")
        finally:
            constants.HF_HUB_OFFLINE = was
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def results_folder_of(name: str, t: Path) -> Path:
    from rag.experiment.config import results_folder

    return results_folder(file(t, "c.yaml", "name: x\n"), type("Experiment", (), {"name": name, "config": {}})())


def start_model_path(model: str) -> str:
    from rerankers.training import start_model_path as locate

    return locate(model)


def _big_line(t: Path):
    text = "word " * 2_000_000    # one 10 MB JSON line
    return list(load_beir(beir(t, corpus=CORPUS + json.dumps({"_id": "big", "text": text}) + "\n")).corpus)


def _mkdir(t: Path, name: str) -> Path:
    (t / name).mkdir()
    return t / name


CASES = [
    # ------------------------------------------------------------ class 5: structured data where text belongs
    Case("parquet question that is a struct", lambda t: load_qa_file(parquet(
        t, "q.parquet", {"question": [{"text": "who?", "lang": "en"}], "answers": [["a"]]})).queries(),
         InputError, "q.parquet", 1, "question", "must be question text, got an object {'text': 'who?'"),
    Case("JSONL question that is a list", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"question": "a", "answers": ["x"]}\n{"question": ["b", "c"], "answers": ["x"]}\n')).queries(),
         InputError, "q.jsonl", 2, "question", "got a list ['b', 'c']"),
    Case("JSON question that is a boolean", lambda t: load_qa_file(file(
        t, "q.json", '[{"question": true, "answers": ["x"]}]')).queries(),
         InputError, "q.json", 1, "question", "got a boolean True"),
    Case("JSON question that is a number (legal: its digits)", lambda t: load_qa_file(file(
        t, "q.json", '[{"question": 1984, "answers": ["Orwell"]}]')).queries(),
         None, result=lambda q: q["query"].tolist() == ["1984"]),
    Case("QA file question id 1.5", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"id": 1.5, "question": "a", "answers": ["x"]}\n')).queries(),
         InputError, "q.jsonl", 1, "id", "is a floating-point number"),
    Case("QA file question id with a space", lambda t: load_qa_file(file(
        t, "q.csv", "id,question,answers\nq 1,who?,x\n")).queries(),
         InputError, "q.csv", 2, "id", "contains whitespace"),
    Case("QA file question id that is an object", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"id": {"n": 1}, "question": "a"}\n')).queries(),
         InputError, "q.jsonl", 1, "id", "must be a string or an integer"),
    Case("QA file popularity Infinity", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"question": "a", "s_pop": Infinity}\n')).queries(),
         InputError, "q.jsonl", 1, "s_pop", "is not a finite number"),
    Case("QA file popularity that is a list", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"question": "a", "s_pop": [1, 2]}\n')).queries(),
         InputError, "q.jsonl", 1, "s_pop", "must be a number, got a list"),
    Case("parquet passage whose title is a list", lambda t: load_qa_file(parquet(
        t, "q.parquet", {"question": ["a"], "contexts": [[{"title": ["T"], "text": "x"}]]})).queries(),
         InputError, "q.parquet", 1, "contexts.title", "got a list"),
    Case("passage id that is a float", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"question": "a", "ctxs": [{"id": 2.5, "text": "x"}]}\n')).queries(),
         InputError, "q.jsonl", 1, "ctxs.id", "floating-point"),
    Case("passage flag isgold that is a string", lambda t: load_qa_file(file(
        t, "q.jsonl", '{"question": "a", "ctxs": [{"text": "x", "isgold": "no"}]}\n')).queries(),
         InputError, "q.jsonl", 1, "ctxs.isgold", "must be true or false"),
    Case("gold answer that is a nested list", lambda t: load_qa_file(parquet(
        t, "q.parquet", {"question": ["a"], "answers": [[["x", "y"]]]})).queries(),
         InputError, "q.parquet", 1, "answers", "a gold answer must be a string"),
    Case("HF folder question that is a struct", lambda t: load_dataset(str(hf_folder(
        t, {"question": [{"text": "a"}], "answers": [["x"]]}))).queries(),
         InputError, "hf", 1, "question", "got an object"),
    Case("BEIR query instruction that is a list (was: truth value of an array is ambiguous)",
         lambda t: load_beir(beir(t, queries='{"_id": "q1", "text": "alpha", "instruction": ["a", "b"]}\n'
                                             '{"_id": "q2", "text": "gamma"}\n')).queries(),
         InputError, "queries.jsonl", 1, "instruction", "must be text, got a list ['a', 'b']"),
    Case("BEIR query instruction that is an object", lambda t: load_beir(beir(
        t, queries=QUERIES.replace('"text": "gamma"}', '"text": "gamma", "instruction": {"en": "x"}}'))).queries(),
         InputError, "queries.jsonl", 2, "instruction", "got an object"),
    Case("BEIR query text that is a list", lambda t: load_beir(beir(
        t, queries='{"_id": "q1", "text": ["alpha"]}\n')).queries(),
         InputError, "queries.jsonl", 1, "text", "got a list"),
    Case("BEIR document text that is an object", lambda t: list(load_beir(beir(
        t, corpus=CORPUS + '{"_id": "d3", "text": {"p": 1}}\n')).corpus),
         InputError, "corpus.jsonl", 3, "text", "got an object"),
    Case("BEIR document title that is a list", lambda t: list(load_beir(beir(
        t, corpus='{"_id": "d1", "title": ["A"], "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 1, "title", "got a list"),
    Case("FollowIR changed instruction that is a list", lambda t: load_followir(followir(
        t, queries='{"_id": "q1", "text": "x", "instruction_og": "a", "instruction_changed": ["b"]}\n')).queries(),
         InputError, "queries.jsonl", 1, "instruction_changed", "got a list"),
    Case("FollowIR candidate id that is an object", lambda t: load_followir(followir(
        t, top='{"qid": "q1", "pid": [{"id": "d1"}]}\n')).candidates(),
         InputError, "top_ranked.jsonl", 1, "pid", "must be a string or an integer"),
    Case("FollowIR candidate id with a space", lambda t: load_followir(followir(
        t, top='{"qid": "q1", "pid": ["d 1"]}\n')).candidates(),
         InputError, "top_ranked.jsonl", 1, "pid", "contains whitespace"),
    Case("in-memory queries with an object as query text", lambda t: validate_queries(
        pd.DataFrame({"qid": ["a", "b"], "query": ["x", {"text": "y"}]})),
         InputError, None, None, "query", "row 2 (query id 'b')"),
    # ------------------------------------------------------------ what a hostile new user tries
    Case("queries.jsonl with CRLF line ends (legal)", lambda t: load_beir(beir(
        t, queries=QUERIES.replace("\n", "\r\n"))).queries(),
         None, result=lambda q: q["query"].tolist() == ["alpha", "gamma"]),
    Case("queries.jsonl with a UTF-8 byte-order mark (legal)", lambda t: load_beir(beir(
        t, queries=b"\xef\xbb\xbf" + QUERIES.encode())).queries(),
         None, result=lambda q: q["qid"].tolist() == ["q1", "q2"]),
    Case("queries.jsonl in UTF-16 with its BOM", lambda t: load_beir(beir(t, queries=QUERIES.encode("utf-16"))).queries(),
         InputError, "queries.jsonl", 1, None, "not valid UTF-8"),
    Case("empty queries.jsonl", lambda t: load_beir(beir(t, queries="")).queries(),
         InputError, "queries.jsonl", None, None, "no queries in file"),
    Case("a 10 MB document on one line (legal)", _big_line,
         None, result=lambda docs: len(docs) == 3 and len(docs[2]["text"]) == 10_000_000),
    Case("numbers as ids in JSONL match the qrels (legal)", lambda t: load_beir(beir(
        t, queries='{"_id": 7, "text": "alpha"}\n', qrels="query-id\tcorpus-id\tscore\n7\td1\t1\n")).qrels(),
         None, result=lambda q: q["qid"].tolist() == ["7"]),
    Case("QA CSV with a header and no rows", lambda t: load_qa_file(file(t, "q.csv", "question,answers\n")).queries(),
         InputError, "q.csv", None, None, "no questions"),
    Case("QA JSON that is an object of objects", lambda t: load_qa_file(file(t, "q.json", '{"a": {"question": "x"}}')),
         InputError, "q.json", None, None, "expected a JSON list"),
    Case("qrels with a NaN label in BEIR TSV", lambda t: read_qrels(file(t, "q.tsv", "query-id\tcorpus-id\tscore\n"
                                                                                     "q1\td1\tNaN\n")),
         InputError, "q.tsv", 2, "label", "not a finite number"),
    Case("/dev/zero as a run file (was: read forever)", lambda t: read_run("/dev/zero"),
         InputError, "/dev/zero", None, None, "is a device that never ends"),
    Case("qrels file that is a symbolic link loop", lambda t: (os.symlink(t / "q2", t / "q1"),
                                                               os.symlink(t / "q1", t / "q2"), read_qrels(t / "q1")),
         InputError, "q1", None, None, "a loop of links"),
    Case("run file of blank lines only", lambda t: read_run(file(t, "r.trec", "\n\n  \n")),
         InputError, "r.trec", None, None, "the run file is empty"),
    # ------------------------------------------------------------ class 2: names that become file stems
    Case("system name '..' as a file stem", lambda t: file_stem(".."),
         None, result=lambda s: "/" not in s and not s.startswith(".") and s.startswith("unnamed-")),
    Case("system name '/etc/passwd' as a file stem", lambda t: file_stem("/etc/passwd"),
         None, result=lambda s: s == "_etc_passwd"),
    Case("system name with NUL and newline as a file stem", lambda t: file_stem("a\x00b\nc"),
         None, result=lambda s: s == "a_b_c"),
    Case("system name 'CON' (a Windows device) as a file stem", lambda t: file_stem("CON"),
         None, result=lambda s: s.startswith("CON-") and len(s) == 12),
    Case("300-byte Unicode system name as a file stem", lambda t: file_stem("ü" * 300),
         None, result=lambda s: len(s.encode()) <= 100 and s.isascii()),
    Case("names equal but for case or punctuation get distinct stems", lambda t: file_stems(
        ["BM25", "bm25", "BM 25", "BM_25"]),
         None, result=lambda m: len({s.casefold() for s in m.values()}) == 4 and m["BM_25"] == "BM_25"),
    Case("experiment name '../../escaped' stays under results/", lambda t: results_folder_of("../../escaped", t),
         None, result=lambda p: p.parent == Path("results") and ".." not in p.parts),
    Case("absolute experiment name '/tmp/x' stays under results/", lambda t: results_folder_of("/tmp/x", t),
         None, result=lambda p: p == Path("results") / "_tmp_x"),
    # ------------------------------------------------------------ class 1: output folders
    Case("output folder that is a file", lambda t: writable_folder(file(t, "out", "x")),
         OutputError, "out", None, None, "is a file, not a folder (EEXIST)"),
    Case("output folder under a file", lambda t: writable_folder(file(t, "f", "x") / "sub"),
         OutputError, "sub", None, None, "is a file, not a folder (ENOTDIR)"),
    Case("output folder name of 300 bytes", lambda t: writable_folder(t / ("a" * 300)),
         OutputError, None, None, None, "(ENAMETOOLONG)"),
    Case("output folder that is a symbolic link loop", lambda t: (os.symlink(t / "b", t / "a"),
                                                                  os.symlink(t / "a", t / "b"),
                                                                  writable_folder(t / "a")),
         OutputError, "a", None, None, "loop of links"),
    # ------------------------------------------------------------ class 6: models that are not there
    Case("cross-encoder model /nonexistent/model", lambda t: _cross_encoder(NOWHERE),
         ConfigError, None, None, "model", "there is no folder /nonexistent/model"),
    Case("cross-encoder model folder without config.json", lambda t: _cross_encoder(str(_mkdir(t, "m"))),
         ConfigError, None, None, "model", "has no config.json or modules.json"),
    Case("cross-encoder model that is a file", lambda t: _cross_encoder(str(file(t, "m.bin", "x"))),
         ConfigError, None, None, "model", "is a file"),
    Case("cross-encoder hub name, not cached, hub switched off", lambda t: _offline_hub_name(
        {"HF_HUB_OFFLINE": "1"}, "org/not-cached-model"),
         ConfigError, None, None, "model", "not in the Hugging Face cache"),
    Case("BERTScore model that is not there", lambda t: parse_measure(f"BERTScore-F1(model={NOWHERE})"),
         InputError, None, None, None, "BERTScore model '/nonexistent/model' not found"),
    Case("NLI model that is not there", lambda t: parse_measure(f"NLI(model={NOWHERE})"),
         InputError, None, None, None, "NLI model '/nonexistent/model' not found"),
    Case("GGUF path that does not exist", lambda t: _gguf(str(t / "none.gguf")),
         ConfigError, None, None, "llm.model", "there is no file"),
    Case("GGUF path that is not a GGUF file", lambda t: _gguf(str(file(t, "fake.gguf", "<html>not found</html>"))),
         ConfigError, None, None, "llm.model", "is not a GGUF file (it starts with b'<htm'"),
    Case("reranker training from a start model that is not there", lambda t: start_model_path(NOWHERE),
         ConfigError, None, None, "model", "start encoder model '/nonexistent/model' not found"),
]


def test_the_round_3_table_has_at_least_50_cases():
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_round_3(case: Case, tmp_path, caplog):
    from tests.test_bad_input import test_bad_input

    test_bad_input(case, tmp_path, caplog)
