"""The bad-input table: each case -> the behaviour a researcher gets (a clear error naming file, line and
field, or a documented warning with counts). Never a raw traceback from deep inside, never wrong numbers.

More cases live next to the code they exercise: test_datasets.py (loaders), test_config.py (configs),
test_resume.py (corrupted cache entries), test_cli.py (exit codes).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from rag.core.errors import ConfigError, InputError
from rag.core.stage import RankCutoff
from rag.datasets import (
    Corpus,
    jsonl_queries,
    load_beir,
    read_qrels,
    read_run,
    read_topics,
)
from rag.evaluation import evaluate
from rag.experiment.config import load_experiment
from rag.llm.openai_compat import LLMServerError

CORPUS = '{"_id": "d1", "title": "A", "text": "alpha beta"}\n{"_id": "d2", "title": "B", "text": "gamma delta"}\n'
QUERIES = '{"_id": "q1", "text": "alpha"}\n{"_id": "q2", "text": "gamma"}\n'
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
CONFIG = "name: x\ndataset: demo\nmeasures: [nDCG@10]\npipelines:\n  BM25: {bm25: {k1: 0.9}}\n"


def beir(root: Path, corpus=CORPUS, queries=QUERIES, qrels=QRELS) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    for name, body in (("corpus.jsonl", corpus), ("queries.jsonl", queries), ("qrels/test.tsv", qrels)):
        (root / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return root


def file(root: Path, name: str, body: str | bytes) -> Path:
    path = root / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


def config(root: Path, body: str) -> Path:
    return file(root, "exp.yaml", body)


def _judge_with_replies(replies: list[str]):
    from rag.core.cache import Cache
    from rag.judges import pointwise
    from rag.llm import Generation, load_llm

    class Replies:
        name = f"replies-{id(replies)}"

        def generate(self, prompts, **kw):
            return [Generation(r, 1, 1, 0.0) for r in replies[: len(prompts)]]

        def option_probs(self, prompts, options):
            raise NotImplementedError

    with Cache(Path(tempfile.mkdtemp())).activate():
        return pointwise(load_llm(Replies()), "q", ["a", "b", "c", "d"])


def _closed_port_client():
    import socket

    from rag.llm.openai_compat import OpenAICompatibleLLM

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return OpenAICompatibleLLM("m", base_url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01, timeout=2)


@dataclass
class Case:
    name: str
    act: Callable[[Path], object]
    error: type | None = None          # the exception expected, or None for "works, with a warning"
    file: str | None = None            # the file the error must name
    line: int | None = None
    field: str | None = None
    says: str = ""                     # text the message (or the warning) must contain


CASES = [
    Case("malformed JSONL line", lambda t: list(load_beir(beir(t, corpus=CORPUS + "{oops\n")).corpus),
         InputError, "corpus.jsonl", 3, None, "malformed JSON"),
    Case("JSON line that is not an object", lambda t: list(load_beir(beir(t, corpus=CORPUS + "[1, 2]\n")).corpus),
         InputError, "corpus.jsonl", 3, None, "expected a JSON object"),
    Case("TSV qrels line with too many fields", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 1\n1 0 d2 1 x y\n")),
         InputError, "q.txt", 2, None, "found 6"),
    Case("non-numeric relevance label", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 yes\n")),
         InputError, "q.txt", 1, "label", "not a number"),
    Case("Latin-1 bytes in a UTF-8 file", lambda t: list(load_beir(beir(t, corpus=CORPUS.encode() + b'{"_id": "d3", "text": "na\xefve"}\n')).corpus),
         InputError, "corpus.jsonl", 3, None, "UTF-8"),
    Case("UTF-16 encoded topics", lambda t: read_topics(file(t, "t.tsv", "1\tquery\n".encode("utf-16"))),
         InputError, "t.tsv", 1, None, "UTF-8"),
    Case("UTF-8 byte-order mark (accepted)", lambda t: read_qrels(file(t, "q.txt", b"\xef\xbb\xbf1 0 d1 1\n")),
         None, says=""),
    Case("document without an id", lambda t: list(load_beir(beir(t, corpus='{"_id": "", "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 1, "docno", "no id"),
    Case("document without the text field", lambda t: list(load_beir(beir(t, corpus='{"_id": "d1", "body": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 1, "text", "missing field"),
    Case("duplicate document id", lambda t: list(load_beir(beir(t, corpus=CORPUS + '{"_id": "d1", "text": "again"}\n')).corpus),
         InputError, "corpus.jsonl", 3, "docno", "duplicate document id"),
    Case("duplicate query id", lambda t: load_beir(beir(t, queries=QUERIES + '{"_id": "q1", "text": "again"}\n')).queries(),
         InputError, "queries.jsonl", 3, "_id", "duplicate query id"),
    Case("empty query text", lambda t: load_beir(beir(t, queries=QUERIES + '{"_id": "q3", "text": ""}\n')).queries(),
         InputError, "queries.jsonl", 3, None, "empty query text"),
    Case("whitespace-only query text", lambda t: load_beir(beir(t, queries=QUERIES + '{"_id": "q3", "text": " \\t "}\n')).queries(),
         InputError, "queries.jsonl", 3, None, "empty query text"),
    Case("whitespace-only documents (kept, counted)", lambda t: list(load_beir(beir(t, corpus=CORPUS + '{"_id": "d3", "title": "", "text": "  "}\n')).corpus),
         None, says="1 empty document(s) kept"),
    Case("empty corpus", lambda t: list(load_beir(beir(t, corpus="\n\n")).corpus),
         InputError, "corpus.jsonl", None, None, "corpus is empty"),
    Case("qrels naming unknown queries (dropped, counted)", lambda t: load_beir(beir(t, qrels=QRELS + "q9\td1\t1\n")).qrels(),
         None, says="1 judgement(s) of 1 query id(s) not among the queries were ignored"),
    Case("qrels naming unknown documents (kept, counted)", lambda t: load_beir(beir(t, qrels=QRELS + "q1\tzz\t1\n")).validate(),
         None, says="1 judgement(s) name 1 document id(s) absent from the corpus"),
    Case("duplicate judgement", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 1\n1 0 d1 2\n")),
         InputError, "q.txt", None, "docno", "duplicate judgement"),
    Case("run line with a non-numeric score", lambda t: read_run(file(t, "r.trec", "1 Q0 d1 1 high t\n")),
         InputError, "r.trec", 1, "score", "not a number"),
    Case("run with a NaN score", lambda t: read_run(file(t, "r.trec", "1 Q0 d1 1 nan t\n")),
         InputError, "r.trec", None, "score", "NaN"),
    Case("run naming a document twice for a query", lambda t: read_run(file(t, "r.trec", "1 Q0 d1 1 2 t\n1 Q0 d1 2 1 t\n")),
         InputError, "r.trec", None, "docno", "appears twice"),
    Case("run and qrels with disjoint query ids", lambda t: evaluate(
        pd.DataFrame({"qid": ["A"], "docno": ["d1"], "score": [1.0]}),
        pd.DataFrame({"qid": ["1"], "docno": ["d1"], "label": [1]}), ["nDCG@10"]),
         InputError, None, None, "qid", "mismatched files"),
    Case("run missing some judged queries (score 0, counted)", lambda t: evaluate(
        pd.DataFrame({"qid": ["1"], "docno": ["d1"], "score": [1.0]}),
        pd.DataFrame({"qid": ["1", "2"], "docno": ["d1", "d1"], "label": [1, 1]}), ["nDCG@10"]),
         None, says="1 of 2 judged queries have no results in the run and score 0"),
    Case("results table with wrong column names", lambda t: RankCutoff(5)(pd.DataFrame({"query_id": ["1"], "doc_id": ["d"], "score": [1.0]})),
         InputError, None, None, "qid", "needs column(s)"),
    Case("queries file with wrong key names", lambda t: jsonl_queries(file(t, "q.jsonl", '{"id": "1", "question": "x"}\n')),
         InputError, "q.jsonl", 1, "_id", "missing field"),
    Case("unknown config key (did you mean)", lambda t: load_experiment(config(t, CONFIG + "baselin: BM25\n")),
         ConfigError, "exp.yaml", 6, "baselin", "did you mean 'baseline'"),
    Case("wrong type in a config", lambda t: load_experiment(config(t, CONFIG.replace("[nDCG@10]", "nDCG@10"))),
         ConfigError, "exp.yaml", 3, "measures", "must be a list"),
    Case("wrong parameter type in a config", lambda t: load_experiment(config(t, CONFIG.replace("k1: 0.9", "k1: [1]"))),
         ConfigError, "exp.yaml", None, None, "k1"),
    Case("secret in a config", lambda t: load_experiment(config(t, CONFIG + "api_key: sk-123456\n")),
         ConfigError, "exp.yaml", 6, "api_key", "environment variable"),
    Case("YAML that tries to run code", lambda t: load_experiment(config(t, "name: !!python/object/apply:os.system ['true']\n")),
         ConfigError, "exp.yaml", 1, None, "YAML"),
    Case("malformed LLM judge replies (counted as unparsable)", lambda t: _judge_with_replies(
        ["My judgment: yes", "I refuse to answer.", "", "{\"judgment\": 42}"]),
         None, says="pointwise judge: 3 of 4 replies could not be parsed"),
    Case("unreachable LLM server", lambda t: _closed_port_client().generate(["hi"]),
         LLMServerError, None, None, None, "unreachable or failing after 2 attempts"),
    Case("missing data file", lambda t: read_qrels(t / "nope.txt"), InputError, "nope.txt", None, None, "not found"),
]


def test_the_table_has_at_least_25_cases():
    assert len(CASES) >= 25 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, caplog):
    if case.error is None:
        with caplog.at_level(logging.WARNING):
            case.act(tmp_path)
        assert case.says in caplog.text
        return
    with pytest.raises(case.error) as info:
        case.act(tmp_path)
    err = info.value
    message = str(err)
    assert case.says in message, message
    if case.file:
        assert str(err.path).endswith(case.file) and case.file in message, message
    if case.line is not None:
        assert err.line == case.line and f":{case.line}" in message, message
    if case.field is not None:
        assert err.field == case.field, message


def test_a_10_mb_document_is_indexed_and_searched(tmp_path):
    from retrievers.lucene import LuceneBM25

    big = " ".join(["filler"] * 1_500_000) + " needle"      # about 10 MB of text
    corpus = Corpus([{"docno": "big", "text": big}, {"docno": "small", "text": "a needle in a haystack"}])
    out = LuceneBM25(corpus).search("needle haystack")
    assert out["docno"].tolist()[0] == "small" and set(out["docno"]) <= {"big", "small"}
