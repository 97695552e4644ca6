"""FAISS search over an embedding matrix cut into row shards: one index per shard, searched locally or as
Ray tasks, and the per-shard top-k merged into the global top-k.

With exact (``flat``) indexes the merged result is the unsharded one: every document's score is the same
inner product, and ties are broken by document row, lowest first. HNSW/IVF-PQ shards are approximate
indexes of their own, so their merged top-k can differ from one approximate index over everything.
Workers memory-map the vectors (a ``.npy`` file in the cache folder or given by the user, which must be on a file
system they share).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.core.cache import Cache
from rag.core.executor import Executor, row_bounds, map_shards
from rag.core.hashing import hash_config

from retrievers.vector_index import IndexType, build_index


@dataclass(frozen=True)
class ShardSearch:
    """One shard's job: rows ``start:stop`` of the ``.npy`` matrix ``vectors``, indexed as ``kind``."""

    vectors: str
    start: int
    stop: int
    kind: IndexType
    queries: np.ndarray
    k: int
    device: str = "auto"
    cache_key: str = ""


def search_shard(job: ShardSearch) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, global row ids) of one shard; indexes worth storing are cached per shard."""
    rows = np.load(job.vectors, mmap_mode="r")[job.start:job.stop]
    kind = job.kind.resolve(len(rows))
    if not kind.persist or not job.cache_key:
        index = build_index(kind, rows)
    else:
        key = hash_config("faiss-shard", job.cache_key, kind.identity(), job.start, job.stop)
        folder = (Cache.active() or Cache()).artifact("faiss-index", key, lambda tmp: build_index(kind, rows).save(tmp))
        index = kind.load(folder)
    to_device = getattr(index, "to_device", None)
    index = to_device(job.device) if callable(to_device) else index
    scores, ids = index.search(job.queries, job.k)
    return scores, np.where(ids >= 0, ids + job.start, -1)


def merge_topk(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard (scores, ids) into the top-``k`` per query: highest score first, ties by lower id;
    empty slots (id -1) last. Rows shorter than ``k`` are padded with score -inf and id -1."""
    scores = np.concatenate([np.asarray(s, dtype=np.float32) for s, _ in parts], axis=1)
    ids = np.concatenate([np.asarray(i, dtype=np.int64) for _, i in parts], axis=1)
    scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
    width = min(k, scores.shape[1])
    out_s = np.full((len(scores), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(scores), k), -1, dtype=np.int64)
    for row in range(len(scores)):
        order = np.lexsort((np.where(ids[row] >= 0, ids[row], np.iinfo(np.int64).max), -scores[row]))[:width]
        out_s[row, :width], out_i[row, :width] = scores[row, order], ids[row, order]
    return out_s, out_i


def sharded_search(vectors: Path, n_docs: int, queries: np.ndarray, k: int, kind: IndexType,
                   shards: int, executor: Executor = "auto", device: str = "auto",
                   cache_key: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Search ``shards`` row shards of the ``.npy`` matrix ``vectors`` (in parallel on Ray when asked) and merge."""
    jobs = [ShardSearch(str(vectors), a, b, kind, queries, k, device, cache_key) for a, b in row_bounds(n_docs, shards)]
    return merge_topk(map_shards(search_shard, jobs, executor), k)
