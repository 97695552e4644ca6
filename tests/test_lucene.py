"""Lucene BM25 through pyserini: indexing from any corpus, parameters, fields, instructions, and the
published SciFact figure."""
from __future__ import annotations

import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus, demo, load_dataset
from rag.evaluation import evaluate
from retrievers.lucene import LuceneBM25

from .conftest import shared_data

DOCS = Corpus([{"docno": "a", "title": "Rivers", "text": "the river flows to the sea"},
               {"docno": "b", "title": "Mountains", "text": "snow on the mountain peak"},
               {"docno": "c", "title": "Sea", "text": "salt water of the sea and the ocean"}])


def test_search_ranks_and_scores():
    out = LuceneBM25(DOCS).search("sea water")
    assert out["docno"].tolist()[0] == "c"
    assert out["rank"].tolist() == list(range(len(out)))
    assert out["score"].is_monotonic_decreasing
    assert set(out.columns) >= {"qid", "query", "docno", "score", "rank"}


def test_k_and_parameters_change_results():
    queries = pd.DataFrame({"qid": ["1"], "query": ["the sea"]})
    assert len(LuceneBM25(DOCS, k=1)(queries)) == 1
    plain = LuceneBM25(DOCS)(queries)["score"].tolist()
    other = LuceneBM25(DOCS, k1=2.0, b=1.0)(queries)["score"].tolist()
    assert plain != other


def test_query_without_matches_gives_no_rows_and_special_characters_are_safe():
    queries = pd.DataFrame({"qid": ["1", "2"], "query": ["zzzz qqqq", 'AND OR "unbalanced ( [ ~ ^ :']})
    out = LuceneBM25(DOCS)(queries)
    assert "1" not in set(out["qid"])


def test_multifield_uses_titles():
    out = LuceneBM25(DOCS, fields="multifield").search("mountains")
    assert out["docno"].tolist()[0] == "b"


def test_instruction_append_changes_the_query():
    queries = pd.DataFrame({"qid": ["1"], "query": ["river"], "instruction": ["about mountains"]})
    ignored = LuceneBM25(DOCS, instruction="ignore")(queries)
    appended = LuceneBM25(DOCS, instruction="append")(queries)
    assert ignored["docno"].tolist()[0] == "a"
    assert "b" in appended["docno"].tolist() and "b" not in ignored["docno"].tolist()


def test_index_is_cached_by_corpus_content(tmp_path):
    cache = Cache(tmp_path)
    with cache.activate():
        LuceneBM25(DOCS).search("sea")
        LuceneBM25(DOCS, k1=1.5).search("sea")          # same corpus: same index
    indexes = [p for p in tmp_path.rglob(".complete")]
    assert len(indexes) == 1


def test_demo_bm25():
    data = demo()
    values = evaluate(LuceneBM25(data.corpus)(data.queries()), data.qrels(), ["nDCG@10"])
    assert values["nDCG@10"] == pytest.approx(0.8315, abs=1e-4)


def test_scifact_reproduces_pyserini():
    """BM25 flat, k1=0.9 b=0.4 on BEIR SciFact test: 0.6789 nDCG@10 (Pyserini 2CR)."""
    shared_data("scifact")
    data = load_dataset("scifact")
    results = LuceneBM25(data.corpus, k1=0.9, b=0.4)(data.queries("test"))
    values = evaluate(results, data.qrels("test"), ["nDCG@10", "R@100"])
    assert values["nDCG@10"] == pytest.approx(0.6789, abs=0.001)
    assert values["R@100"] == pytest.approx(0.9253, abs=0.001)


def test_bad_input_in_the_middle_stops_the_build_cleanly(tmp_path):
    """A bad document half-way: the one error, no hang on the pipes Anserini reads, nothing published."""
    from rag.core.errors import InputError
    from rag.datasets import jsonl_corpus

    path = tmp_path / "corpus.jsonl"
    lines = [f'{{"_id": "d{i}", "text": "word{i} river"}}' for i in range(3000)]
    lines[2000] = '{"_id": "d2000", "text": '                      # malformed JSON
    path.write_text("\n".join(lines) + "\n")
    with Cache(tmp_path / "cache").activate(), pytest.raises(InputError) as err:
        LuceneBM25(jsonl_corpus(path)).index_path()
    assert err.value.line == 2001
    assert not list((tmp_path / "cache").rglob(".complete"))


def test_an_indexer_failure_is_raised_not_waited_for(tmp_path, monkeypatch):
    """Anserini stops reading (here: it cannot start): its error comes back instead of a writer blocked for good."""
    import retrievers.lucene as lucene

    docs = Corpus([{"docno": f"d{i}", "title": "", "text": "river sea " * 50} for i in range(5000)])
    real = lucene.JavaTask

    def broken(call):
        return real(lambda: lucene.java.autoclass("io.anserini.index.IndexCollection").main(
            ["-collection", "NoSuchCollection", "-input", "/nonexistent", "-index", str(tmp_path / "x")]))
    monkeypatch.setattr(lucene, "JavaTask", broken)
    with Cache(tmp_path / "cache").activate(), pytest.raises(Exception):
        LuceneBM25(docs).index_path()
    assert not list((tmp_path / "cache").rglob(".complete"))


def test_store_text_false_builds_an_index_without_text(tmp_path):
    from rag.core.errors import InputError

    with Cache(tmp_path).activate():
        plain = LuceneBM25(DOCS, store_text=False)
        stored = LuceneBM25(DOCS)
        assert plain.index_path() != stored.index_path()
        assert plain.search("sea")["docno"].tolist() == stored.search("sea")["docno"].tolist()
        assert stored.documents().texts(["a"], with_title=False) == ["the river flows to the sea"]
        with pytest.raises(InputError, match="stores no document text"):
            plain.documents().texts(["a"])
