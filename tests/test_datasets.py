"""Loaders and the data model: BEIR, JSONL with a field mapping, TREC files, the demo set, and bad input."""
from __future__ import annotations

import logging

import pandas as pd
import pytest

from rag.datasets import (Corpus, demo, jsonl_corpus, jsonl_queries, load_beir, load_dataset, load_jsonl_dataset,
                          read_qrels, read_run, read_topics, write_qrels, write_run)
from rag.core.errors import InputError


def write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def beir_folder(root, corpus=None, queries=None, qrels=None):
    corpus = corpus if corpus is not None else (
        '{"_id": "d1", "title": "Cats", "text": "cats purr"}\n{"_id": "d2", "title": "", "text": "dogs bark"}\n')
    queries = queries if queries is not None else '{"_id": "q1", "text": "purring"}\n{"_id": "q2", "text": "barking"}\n'
    qrels = qrels if qrels is not None else "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
    write(root / "corpus.jsonl", corpus)
    write(root / "queries.jsonl", queries)
    write(root / "qrels" / "test.tsv", qrels)
    return root


def test_demo_dataset_is_complete():
    data = demo()
    queries, qrels = data.queries(), data.qrels()
    assert len(data.corpus) == 36 and len(queries) == 14
    assert set(qrels["qid"]) == set(queries["qid"])
    assert set(qrels["docno"]) <= set(data.corpus.frame()["docno"])
    assert all(isinstance(a, list) and a for a in queries["answers"])


def test_beir_folder(tmp_path):
    data = load_beir(beir_folder(tmp_path))
    assert data.splits == ["test"]
    assert data.queries().to_dict("list") == {"qid": ["q1", "q2"], "query": ["purring", "barking"]}
    assert data.qrels()["label"].tolist() == [1, 1]
    assert data.corpus.texts(["d1"]) == ["Cats cats purr"] or data.corpus.texts(["d1"])[0].endswith("cats purr")


def test_jsonl_with_field_mapping(tmp_path):
    write(tmp_path / "c.jsonl", '{"pid": 7, "body": "hello world"}\n')
    write(tmp_path / "q.jsonl", '{"id": "a", "question": "hi?", "gold": "hello", "task": "be brief"}\n')
    corpus = jsonl_corpus(tmp_path / "c.jsonl", fields={"docno": "pid", "text": "body"})
    assert list(corpus) == [{"docno": "7", "title": "", "text": "hello world"}]
    queries = jsonl_queries(tmp_path / "q.jsonl", fields={"qid": "id", "query": "question"},
                            extra={"answers": "gold", "instruction": "task"})
    assert queries.loc[0, "answers"] == ["hello"] and queries.loc[0, "instruction"] == "be brief"
    data = load_jsonl_dataset(corpus=tmp_path / "c.jsonl", queries=tmp_path / "q.jsonl",
                              corpus_fields={"docno": "pid", "text": "body"},
                              query_fields={"qid": "id", "query": "question"})
    assert len(data.queries()) == 1


def test_trec_run_and_qrels_roundtrip(tmp_path):
    run = pd.DataFrame({"qid": ["1", "1", "2"], "docno": ["a", "b", "a"], "score": [2.0, 3.0, 1.5]})
    write_run(run, tmp_path / "run.trec", tag="t")
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines[0] == "1 Q0 b 1 3.000000 t" and lines[1] == "1 Q0 a 2 2.000000 t"
    back = read_run(tmp_path / "run.trec")
    assert back.sort_values(["qid", "rank"])["docno"].tolist() == ["b", "a", "a"]
    qrels = pd.DataFrame({"qid": ["1", "2"], "docno": ["a", "a"], "label": [1, 2]})
    write_qrels(qrels, tmp_path / "qrels.txt")
    pd.testing.assert_frame_equal(read_qrels(tmp_path / "qrels.txt"), qrels)


def test_trec_topics_sgml_and_tsv(tmp_path):
    write(tmp_path / "t.sgml", "<top>\n<num> Number: 301\n<title> oil spills\n<desc> Description:\nfind spills\n"
                               "<narr> Narrative:\nany\n</top>\n")
    topics = read_topics(tmp_path / "t.sgml")
    assert topics.loc[0, "qid"] == "301" and topics.loc[0, "query"] == "oil spills"
    write(tmp_path / "t.tsv", "1\tfirst query\n2\tsecond\n")
    assert read_topics(tmp_path / "t.tsv")["query"].tolist() == ["first query", "second"]


# --------------------------------------------------------------------------- bad input: case -> behaviour
def _error(fn) -> InputError:
    with pytest.raises(InputError) as info:
        fn()
    return info.value


def test_malformed_jsonl_names_file_and_line(tmp_path):
    root = beir_folder(tmp_path, corpus='{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": oops}\n')
    err = _error(lambda: list(load_beir(root).corpus))
    assert err.line == 2 and str(err.path).endswith("corpus.jsonl") and "malformed JSON" in str(err)


def test_missing_field_names_the_field(tmp_path):
    root = beir_folder(tmp_path, corpus='{"_id": "d1", "text": "ok"}\n{"_id": "d2"}\n')
    err = _error(lambda: list(load_beir(root).corpus))
    assert (err.line, err.field) == (2, "text")


def test_duplicate_document_id(tmp_path):
    root = beir_folder(tmp_path, corpus='{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n')
    err = _error(lambda: list(load_beir(root).corpus))
    assert err.line == 3 and err.field == "docno" and "line 1" in str(err)


def test_duplicate_query_id(tmp_path):
    root = beir_folder(tmp_path, queries='{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n')
    err = _error(lambda: load_beir(root).queries())
    assert err.line == 2 and "duplicate query id" in str(err)


def test_empty_query_text(tmp_path):
    root = beir_folder(tmp_path, queries='{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "  "}\n')
    err = _error(lambda: load_beir(root).queries())
    assert err.line == 2 and "empty query" in str(err)


def test_missing_document_id(tmp_path):
    root = beir_folder(tmp_path, corpus='{"_id": "", "text": "a"}\n')
    err = _error(lambda: list(load_beir(root).corpus))
    assert err.field == "docno"


def test_non_utf8_bytes(tmp_path):
    root = beir_folder(tmp_path, corpus=b'{"_id": "d1", "text": "fine"}\n{"_id": "d2", "text": "caf\xe9"}\n')
    err = _error(lambda: list(load_beir(root).corpus))
    assert err.line == 2 and "UTF-8" in str(err)


def test_utf8_bom_is_accepted(tmp_path):
    root = beir_folder(tmp_path, corpus=b'\xef\xbb\xbf{"_id": "d1", "text": "fine"}\n')
    assert [d["docno"] for d in load_beir(root).corpus] == ["d1"]


def test_empty_corpus(tmp_path):
    root = beir_folder(tmp_path, corpus="\n")
    err = _error(lambda: list(load_beir(root).corpus))
    assert "empty" in str(err)


def test_qrels_of_unknown_queries_are_dropped_with_a_count(tmp_path, caplog):
    root = beir_folder(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n")
    data = load_beir(root)
    with caplog.at_level(logging.WARNING):
        qrels = data.qrels()
    assert qrels["qid"].tolist() == ["q1"]
    assert "1 judgement(s) of 1 query id(s)" in caplog.text


def test_qrels_naming_unknown_documents_warn_with_a_count(tmp_path, caplog):
    root = beir_folder(tmp_path, qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\tzz\t1\n")
    with caplog.at_level(logging.WARNING):
        data = load_beir(root)
        report = data.validate()
    assert len(data.qrels()) == 2  # kept: they count against recall, as in trec_eval
    assert report["test"]["judgements_of_unknown_documents"] == 1
    assert "1 judgement(s) name 1 document id(s) absent from the corpus" in caplog.text


def test_bad_qrels_lines(tmp_path):
    err = _error(lambda: read_qrels(write(tmp_path / "q.txt", "1 0 d1 1\n1 0 d3 1 9 9\n")))
    assert err.line == 2 and "found 6" in str(err)
    err = _error(lambda: read_qrels(write(tmp_path / "q1.txt", "1 0 d1 1\n1 0 d2\n")))
    assert (err.line, err.field) == (2, "label")
    err = _error(lambda: read_qrels(write(tmp_path / "q2.txt", "1 0 d1 high\n")))
    assert (err.line, err.field) == (1, "label")
    err = _error(lambda: read_qrels(write(tmp_path / "q3.txt", "1 0 d1 1\n1 0 d1 0\n")))
    assert "duplicate judgement" in str(err)


def test_bad_run_lines(tmp_path):
    err = _error(lambda: read_run(write(tmp_path / "r.trec", "1 Q0 a 1 2.0 t\n1 Q0 b 2 x t\n")))
    assert err.line == 2


def test_corpus_from_frame_and_lookup():
    corpus = Corpus(pd.DataFrame({"docno": ["a", "b"], "text": ["x", "y"]}))
    assert corpus.documents(["b"])["text"].tolist() == ["y"] and len(corpus) == 2


def test_unknown_dataset_suggests_a_name():
    err = _error(lambda: load_dataset("scifakt"))
    assert "scifact" in str(err)
