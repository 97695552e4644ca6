"""FAISS search over an embedding matrix cut into row shards: one index per shard, searched locally or as
Ray tasks, and the per-shard top-k merged into the global top-k.

With exact (``flat``) indexes the merged result is the unsharded one: every document's score is the same
inner product, and ties are broken by document row, lowest first. HNSW/IVF-PQ shards are approximate
indexes of their own, so their merged top-k can differ from one approximate index over everything.
Workers memory-map the embeddings from the cache folder (which must be shared with them).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.core.cache import Cache
from rag.core.executor import Executor, row_bounds, map_shards
from rag.core.hashing import hash_config

from retrievers import encoders, faiss_index


@dataclass(frozen=True)
class ShardSearch:
    """One shard's job: rows ``start:stop`` of the embeddings folder ``embeddings``."""

    embeddings: str
    start: int
    stop: int
    spec: faiss_index.IndexSpec
    queries: np.ndarray
    k: int
    device: str = "auto"
    cache_key: str = ""


def search_shard(job: ShardSearch) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, global row ids) of one shard; approximate indexes are cached per shard."""
    _, vectors = encoders.read_embeddings(Path(job.embeddings))
    rows = np.asarray(vectors[job.start:job.stop])
    if job.spec.kind == "flat" or not job.cache_key:
        index = faiss_index.build(rows, job.spec)
    else:
        key = hash_config("faiss-shard", job.cache_key, job.start, job.stop)
        folder = (Cache.active() or Cache()).artifact(
            "faiss-index", key, lambda tmp: faiss_index.save(faiss_index.build(rows, job.spec), tmp / "index.faiss"))
        index = faiss_index.load(folder / "index.faiss")
    index = faiss_index.prepare_for_search(index, job.spec, job.device)
    scores, ids = faiss_index.search(index, job.queries, job.k)
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


def sharded_search(embeddings: Path, n_docs: int, queries: np.ndarray, k: int, spec: faiss_index.IndexSpec,
                   shards: int, executor: Executor = "auto", device: str = "auto",
                   cache_key: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Search ``shards`` row shards of the embeddings folder (in parallel on Ray when asked) and merge."""
    jobs = [ShardSearch(str(embeddings), a, b, spec, queries, k, device, cache_key) for a, b in row_bounds(n_docs, shards)]
    return merge_topk(map_shards(search_shard, jobs, executor), k)
