"""Sharded execution: local and Ray (2 local workers) give exactly the unsharded output.

The Ray tests are marked slow (``pytest -m slow``): starting a local cluster takes 10 to 40 s on 2 busy cores,
and with the ray extra installed and these tests in the default run, a CI run died with a segmentation fault
in a later Lucene (JVM) test (seen 2026-12-01, cause not yet isolated), so they stay out of the default run.
"""
from __future__ import annotations

import os
import zlib

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus
from rag.core.executor import Sharded, encode_in_shards, map_shards, split_by_query
from rag.core.build import BuildContext, build_stage
from retrievers.bm25.fast import FastBM25


def _corpus() -> Corpus:
    rng = np.random.default_rng(7)
    words = [f"t{i}" for i in range(40)] + ["protein", "cell"]
    return Corpus([{"docno": f"doc{i}", "title": "", "text": " ".join(rng.choice(words, size=rng.integers(2, 30)))}
                   for i in range(200)], name="toy")


def _queries() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    words = [f"t{i}" for i in range(45)] + ["cell"]
    return pd.DataFrame({"qid": [f"q{i}" for i in range(30)],
                         "query": [" ".join(rng.choice(words, size=3)) for _ in range(30)]})


def test_split_keeps_queries_whole():
    frame = pd.DataFrame({"qid": ["a", "a", "b", "c", "c", "d"], "docno": list("123456")})
    pieces = split_by_query(frame, 3)
    assert [p["qid"].tolist() for p in pieces] == [["a", "a", "b"], ["c", "c"], ["d"]]
    assert len(split_by_query(frame, 10)) == 4


def test_local_sharding_is_identical(tmp_path):
    with Cache(tmp_path).activate():
        expected = FastBM25(_corpus(), k=20).transform(_queries())
        got = Sharded(FastBM25(_corpus(), k=20), shards=3, executor="local").transform(_queries())
    pd.testing.assert_frame_equal(got, expected)


def test_sharded_from_config():
    stage = build_stage({"sharded": {"stage": {"rank-cutoff": {"k": 5}}, "shards": 4, "executor": "local"}},
                        BuildContext())
    assert isinstance(stage, Sharded) and stage.shards == 4 and stage.fingerprint() == stage.stage.fingerprint()


@pytest.mark.slow
def test_ray_sharding_is_identical(ray_cluster, tmp_path):
    with Cache(tmp_path).activate():
        expected = FastBM25(_corpus(), k=20).transform(_queries())
        got = Sharded(FastBM25(_corpus(), k=20), shards=2, executor="ray").transform(_queries())
        pids = map_shards(lambda _: os.getpid(), [0, 1], executor="ray")
    pd.testing.assert_frame_equal(got, expected)
    assert os.getpid() not in pids  # the shards ran in Ray workers


@pytest.mark.slow
def test_ray_encoding_is_identical(ray_cluster):
    def hashed_vectors(texts: list[str]) -> np.ndarray:  # a deterministic stand-in encoder (16-d hashed words)
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, zlib.crc32(word.encode()) % 16] += 1
        return out

    texts = _queries()["query"].tolist()
    got = encode_in_shards(hashed_vectors, texts, shards=2, executor="ray")
    np.testing.assert_array_equal(got, hashed_vectors(texts))
