"""The bad-input table: each case -> the behaviour a researcher gets (a clear error naming file, line and
field, or a documented warning with counts). Never a raw traceback from deep inside, never wrong numbers.

More cases live next to the code they exercise: test_datasets.py (loaders), test_config.py (configs),
test_resume.py (corrupted cache entries), test_cli.py (exit codes), test_board.py (awkward system names);
test_bad_input_cli.py runs the command-line cases through ``python -m rag.cli`` and counts tracebacks.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from rag.experiment.config import load_experiment
from rag.datasets import (Corpus, iter_trec_documents, jsonl_queries, load_beir, read_qrels, read_run, read_topics,
                          write_qrels, write_run)
from rag.core.errors import ConfigError, InputError
from rag.llm.errors import LLMServerError
from rag.evaluation import evaluate, parse_measure
from rag.core.stage import RankCutoff

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


BOMB = "a0: &a0 [lol]\n" + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))


def _lucene(**params):
    from retrievers.lucene import LuceneBM25

    return LuceneBM25(Corpus([{"docno": "d1", "text": "x"}]), **params)


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

    from rag.llm.backends.openai import OpenAICompatibleLLM

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
    result: Callable[[Any], bool] | None = None   # for legal input: what the result must satisfy


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
         ConfigError, "exp.yaml", 5, "bm25.k1", "bm25.k1 must be a number, got [1]"),
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

    # ---------------------------------------------------------------- identifiers (the id rule, rag.core.schema)
    Case("float query id in JSONL", lambda t: load_beir(beir(t, queries=QUERIES + '{"_id": 5.0, "text": "x"}\n')).queries(),
         InputError, "queries.jsonl", 3, "_id", "is a floating-point number"),
    Case("float document id in JSONL", lambda t: list(load_beir(beir(t, corpus=CORPUS + '{"_id": 5.0, "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 3, "docno", "never matches '5'"),
    Case("integer ids in JSONL match the qrels' (legal)", lambda t: load_beir(beir(
        t, corpus=CORPUS + '{"_id": 5, "text": "x"}\n', qrels=QRELS + "q1\t5\t1\n")).validate(),
         None, result=lambda report: report["test"]["judgements_of_unknown_documents"] == 0),
    Case("boolean document id", lambda t: list(load_beir(beir(t, corpus='{"_id": true, "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 1, "docno", "is a boolean"),
    Case("space inside a query id", lambda t: load_beir(beir(t, queries=QUERIES + '{"_id": "q 3", "text": "x"}\n')).queries(),
         InputError, "queries.jsonl", 3, "_id", "contains whitespace (U+0020 at character 2)"),
    Case("NUL byte in a document id", lambda t: list(load_beir(beir(t, corpus=CORPUS + '{"_id": "d\\u00003", "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 3, "docno", "control character (U+0000"),
    Case("zero-width space in a document id", lambda t: list(load_beir(beir(t, corpus=CORPUS + '{"_id": "d3\\u200b", "text": "x"}\n')).corpus),
         InputError, "corpus.jsonl", 3, "docno", "invisible format character (U+200B"),
    Case("unpaired surrogate in a query id", lambda t: jsonl_queries(file(t, "q.jsonl", '{"_id": "q\\ud800", "text": "x"}\n')),
         InputError, "q.jsonl", 1, "_id", "unpaired surrogate"),
    Case("5,000-byte document id", lambda t: list(load_beir(beir(t, corpus='{"_id": "%s", "text": "x"}\n' % ("d" * 5000))).corpus),
         InputError, "corpus.jsonl", 1, "docno", "5000 bytes long"),
    Case("NUL byte in a TREC qrels id", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 1\n1 0 d\x002 1\n")),
         InputError, "q.txt", 2, "docno", "control character"),
    Case("space inside a BEIR qrels id (not split silently)", lambda t: read_qrels(file(t, "q.tsv", "query-id\tcorpus-id\tscore\nq1\tBarack Obama\t1\n")),
         InputError, "q.tsv", 2, "docno", "contains whitespace"),
    Case("control character in a topics id", lambda t: read_topics(file(t, "t.tsv", "1\x01\tquery\n")),
         InputError, "t.tsv", 1, "qid", "control character (U+0001"),
    Case("space inside an SGML DOCNO", lambda t: list(iter_trec_documents(file(t, "docs.sgml", "<DOC>\n<DOCNO> FT 1 </DOCNO>\ntext\n</DOC>\n"))),
         InputError, "docs.sgml", 2, "DOCNO", "contains whitespace"),
    Case("write_run refuses an id a TREC file cannot carry", lambda t: write_run(
        pd.DataFrame({"qid": ["1"], "docno": ["a b"], "score": [1.0]}), t / "r.trec"),
         InputError, "r.trec", None, "docno", "could not be written and read back"),
    Case("write_run refuses a tag with a space", lambda t: write_run(
        pd.DataFrame({"qid": ["1"], "docno": ["a"], "score": [1.0]}), t / "r.trec", tag="my run"),
         InputError, "r.trec", None, "tag", "contains whitespace"),
    Case("write_qrels refuses a NUL byte in an id", lambda t: write_qrels(
        pd.DataFrame({"qid": ["1\x00"], "docno": ["a"], "label": [1]}), t / "q.txt"),
         InputError, "q.txt", None, "qid", "control character"),
    Case("evaluate() with a NUL byte in an in-memory id", lambda t: evaluate(
        pd.DataFrame({"qid": ["1", "1"], "docno": ["d\x001", "d2"], "score": [2.0, 1.0]}),
        pd.DataFrame({"qid": ["1"], "docno": ["d2"], "label": [1]}), ["nDCG@10"]),
         InputError, None, None, "docno", "control character"),
    # ---------------------------------------------------------------- relevance labels (the label rule)
    Case("relevance label 1.7 (not truncated)", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 1.7\n")),
         InputError, "q.txt", 1, "label", "is not an integer"),
    Case("relevance label inf", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 1\n1 0 d2 inf\n")),
         InputError, "q.txt", 2, "label", "not a finite number"),
    Case("relevance label 10**20 (was an OverflowError)", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 100000000000000000000\n")),
         InputError, "q.txt", 1, "label", "out of range"),
    Case("relevance label 1.7 in a DataFrame", lambda t: evaluate(
        pd.DataFrame({"qid": ["1"], "docno": ["d1"], "score": [1.0]}),
        pd.DataFrame({"qid": ["1"], "docno": ["d1"], "label": [1.7]}), ["nDCG@10"]),
         InputError, None, None, "label", "is not an integer"),
    Case("labels 2.0 and -1 (legal: 2 and non-relevant -1)", lambda t: read_qrels(file(t, "q.txt", "1 0 d1 2.0\n1 0 d2 -1\n")),
         None, result=lambda q: q["label"].tolist() == [2, -1] and str(q["label"].dtype) == "int64"),
    # ---------------------------------------------------------------- YAML and query selection
    Case("exponential YAML aliases (billion laughs)", lambda t: load_experiment(config(t, CONFIG + BOMB)),
         ConfigError, "exp.yaml", 11, None, "expand too much"),
    Case("recursive YAML alias", lambda t: load_experiment(config(t, CONFIG + "x: &x [1, *x]\n")),
         ConfigError, "exp.yaml", 6, None, "recursive alias"),
    Case("queries.limit 0", lambda t: load_experiment(config(t, CONFIG + "queries: {limit: 0}\n")),
         ConfigError, "exp.yaml", 6, "queries.limit", "must be a positive integer"),
    Case("negative queries.limit", lambda t: load_experiment(config(t, CONFIG + "queries:\n  limit: -2\n")),
         ConfigError, "exp.yaml", 7, "queries.limit", "got -2"),
    Case("non-integer queries.limit", lambda t: load_experiment(config(t, CONFIG + "queries: {limit: '5'}\n")),
         ConfigError, "exp.yaml", 6, "queries.limit", "got '5'"),
    Case("queries.qids all unknown", lambda t: load_experiment(config(t, CONFIG + "queries: {qids: [zz]}\n")),
         ConfigError, "exp.yaml", 6, "queries.qids", "none of the 1 query id(s)"),
    Case("queries.qids partly unknown (skipped, counted)", lambda t: load_experiment(config(t, CONFIG + "queries: {qids: [q01, zz]}\n")),
         None, says="1 of 2 query id(s) in queries.qids are not queries of dataset 'demo'",
         result=lambda e: e.queries()["qid"].tolist() == ["q01"]),
    Case("queries.qids item that is a float", lambda t: load_experiment(config(t, CONFIG + "queries:\n  qids:\n    - q01\n    - 1.5\n")),
         ConfigError, "exp.yaml", 9, "queries.qids", "floating-point"),
    # ---------------------------------------------------------------- BM25 parameters (never a JVM stack trace)
    Case("BM25 k1 -1 in a config", lambda t: load_experiment(config(t, CONFIG.replace("k1: 0.9", "k1: -1"))),
         ConfigError, "exp.yaml", 5, "bm25.k1", "k1 must be >= 0"),
    Case("BM25 b 1.5 in a config", lambda t: load_experiment(config(t, CONFIG.replace("k1: 0.9", "b: 1.5"))),
         ConfigError, "exp.yaml", 5, "bm25.b", "b must be between 0"),
    Case("BM25 k 0 in a config", lambda t: load_experiment(config(t, CONFIG.replace("k1: 0.9", "k: 0"))),
         ConfigError, "exp.yaml", 5, "bm25.k", "k must be an integer from 1"),
    Case("BM25 k1 NaN in Python", lambda t: _lucene(k1=float("nan")),
         InputError, None, None, "k1", "must be a finite number"),
    # ---------------------------------------------------------------- degenerate measures (parsed before any work)
    *[Case(f"measure {spec}", lambda t, spec=spec: parse_measure(spec), InputError, None, None, "measures", says)
      for spec, says in (("P@0", "cut-off must be an integer from 1 to 1000000, got 0"), ("RR@0", "got 0"),
                         ("nDCG@0", "got 0"), ("nDCG@99999999999", "got 99999999999"),
                         ("AP(rel=0)", "rel (the lowest relevant label) must be a positive integer"),
                         ("nDCG(foo=1)@10", "unknown parameter 'foo'"))],
    Case("measure P@0 in a YAML list", lambda t: load_experiment(config(t, CONFIG.replace("measures: [nDCG@10]", "measures:\n  - nDCG@10\n  - P@0"))),
         ConfigError, "exp.yaml", 5, "measures", "got 0"),
    Case("measure names in any case (legal)", lambda t: [parse_measure(m).name for m in ("ndcg@10", "NDCG@10", "rr@10", "p@5", "r@100", "ap", "f1")],
         None, result=lambda names: names == ["nDCG@10", "nDCG@10", "RR@10", "P@5", "R@100", "AP", "F1"]),
    Case("measure names in any case in a config (legal)", lambda t: load_experiment(config(t, CONFIG.replace("[nDCG@10]", "[ndcg@10, map, recip_rank]"))),
         None, result=lambda e: [m.name for m in e.measures] == ["nDCG@10", "AP", "RR"]),
    # ---------------------------------------------------------------- other config numbers
    Case("seed out of numpy's range", lambda t: load_experiment(config(t, CONFIG + "seed: 4294967296\n")),
         ConfigError, "exp.yaml", 6, "seed", "seed must be an integer from 0 to 4294967295"),
    Case("significance level 5", lambda t: load_experiment(config(t, CONFIG + "alpha: 5\n")),
         ConfigError, "exp.yaml", 6, "alpha", "between 0 and 1"),
    Case("unknown significance test", lambda t: load_experiment(config(t, CONFIG + "test: ttest\n")),
         ConfigError, "exp.yaml", 6, "test", "did you mean 't-test'"),
]


def test_the_table_has_at_least_75_cases():
    assert len(CASES) >= 75 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, caplog):
    if case.error is None:
        with caplog.at_level(logging.WARNING):
            result = case.act(tmp_path)
        assert case.says in caplog.text
        if case.result is not None:
            assert case.result(result), result
        return
    with pytest.raises(case.error) as info:
        case.act(tmp_path)
    err = info.value
    message = str(err)
    assert case.says in message and "\n" not in message, message            # one line, saying what is wrong
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


def test_a_query_over_lucenes_clause_limit_gets_its_results_and_the_others_theirs(caplog):
    """Anserini 1.7.1 keeps Lucene's limit of 1,024 clauses (one per distinct query term), so pyserini fails
    the whole batch on such a query; ragif raises the limit, and ranks as the in-process BM25 does."""
    from retrievers.bm25.fast import FastBM25
    from retrievers.lucene import LuceneBM25

    words = [f"w{i}x" for i in range(1500)]
    corpus = Corpus([{"docno": "d1", "text": " ".join(words[:800])},
                     {"docno": "d2", "text": "alpha beta " + " ".join(words[800:])},
                     {"docno": "d3", "text": "gamma alpha"}])
    queries = pd.DataFrame({"qid": ["short", "long"], "query": ["alpha", " ".join(words)]})
    lucene = LuceneBM25(corpus)(queries)
    fast = FastBM25(corpus, engine="numpy")(queries)
    for qid in ("short", "long"):
        a, b = (f[f["qid"] == qid].sort_values("rank") for f in (lucene, fast))
        assert a["docno"].tolist() == b["docno"].tolist() and len(a) == 2
        assert a["score"].to_numpy() == pytest.approx(b["score"].to_numpy(), rel=1e-3)   # Lucene stores lengths in one byte


def test_a_query_lucene_refuses_is_named_in_one_line(monkeypatch):
    from rag.core import java
    from retrievers.lucene import LuceneBM25

    java.configure()   # the JVM before jnius is imported
    from jnius import JavaException

    bm25 = LuceneBM25(Corpus([{"docno": "d1", "text": "alpha"}, {"docno": "d2", "text": "beta"}]))
    real = LuceneBM25._run_batch

    def refuse_q2(self, texts, qids, k):
        if "q2" in qids:
            raise JavaException("JVM exception occurred: java.lang.IllegalStateException: refused\n\tat some.Class")
        return real(self, texts, qids, k)

    monkeypatch.setattr(LuceneBM25, "_run_batch", refuse_q2)
    with pytest.raises(InputError) as info:
        bm25(pd.DataFrame({"qid": ["q1", "q2"], "query": ["alpha", "beta"]}))
    message = str(info.value)
    assert "1 of 2 queries" in message and "'q2'" in message and "refused" in message and "\n" not in message


def test_nothing_computed_is_lost_when_a_run_stops_on_bad_input(tmp_path):
    """The first pipeline's output is cached before the second one stops on bad input; the re-run after the
    fix computes nothing again."""
    import dataclasses
    from typing import ClassVar

    from rag.core.stage import Stage, add_ranks
    from rag.experiment import Experiment

    calls: list[str] = []

    @dataclasses.dataclass(repr=False)
    class Ranker(Stage):
        bad: bool = False
        needs: ClassVar[tuple[str, ...]] = ("qid", "query")
        gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")

        def transform(self, frame):
            calls.append("bad" if self.bad else "good")
            if self.bad:
                raise InputError("this stage refuses its input", field="query")
            return add_ranks(frame.assign(docno="d01", score=1.0))

    from rag.datasets import demo

    data = demo()
    with pytest.raises(InputError):
        Experiment({"good": Ranker(), "bad": Ranker(bad=True)}, data, ["nDCG@10"], cache=tmp_path).run()
    assert calls == ["good", "bad"]
    results = Experiment({"good": Ranker()}, data, ["nDCG@10"], cache=tmp_path).run()
    assert calls == ["good", "bad"]                       # served from the cache
    assert results.table.loc["good", "nDCG@10"] > 0
