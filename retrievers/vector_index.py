"""Vector indexes of the dense stage: the :class:`IndexType` / :class:`VectorIndex` protocols, building an index
chunk by chunk from memory-mapped vectors, exact blocked search and recall against it.

An index type is a registry key of kind ``vector-index`` whose object, called with its parameters, makes empty
indexes and loads saved ones (``flat``, ``hnsw``, ``ivfpq`` and ``auto`` are in :mod:`retrievers.faiss_index`). A
new one is one file::

    @register("my-index", kind="vector-index")
    @dataclass
    class MyIndexType:
        nlist: int = 100                      # its parameters: DenseRetriever(index_params={...})
        persist = True                        # saved in the cache (False: rebuilt from the vectors each time)
        def resolve(self, count): return self
        def identity(self): return {"nlist": self.nlist}
        def create(self, dim, count): ...     # an empty VectorIndex
        def load(self, folder): ...           # what VectorIndex.save wrote

and ``DenseRetriever(corpus, index="my-index")`` uses it.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable
from pathlib import Path

import numpy as np

from rag.core.errors import InputError
from rag.core.progress import progress
from rag.core.registry import lookup, names

log = logging.getLogger(__name__)

ADD_CHUNK = 65_536  # rows read from the memory map and added at a time


@runtime_checkable
class VectorIndex(Protocol):
    """Rows of float32 vectors searched by inner product: ``search`` gives each query's top-``k`` scores and row
    numbers (row -1 marks an empty slot)."""

    @property
    def ntotal(self) -> int: ...

    @property
    def needs_training(self) -> bool: ...

    def train(self, sample: np.ndarray) -> None: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, folder: Path) -> None: ...


@runtime_checkable
class IndexType(Protocol):
    """A kind of index with its parameters."""

    persist: bool

    def resolve(self, count: int) -> "IndexType": ...

    def identity(self) -> dict[str, Any]: ...

    def create(self, dim: int, count: int) -> VectorIndex: ...

    def load(self, folder: Path) -> VectorIndex: ...


def index_type(name: str, params: dict[str, Any] | None = None) -> IndexType:
    """The index type registered as ``name`` with ``params`` (unknown names or parameters fail here)."""
    if not isinstance(name, str) or name not in names("vector-index"):
        raise InputError(f"index must be one of {names('vector-index')} (index types registered with "
                         f"register(name, kind='vector-index')), got {name!r}", field="index")
    factory = lookup(name, "vector-index")
    try:
        made = factory(**dict(params or {}))
    except TypeError as exc:
        import dataclasses
        accepted = [f.name for f in dataclasses.fields(factory) if f.init] if dataclasses.is_dataclass(factory) else []
        raise InputError(f"index {name!r} does not take index_params {sorted(params or {})}"
                         f"{f'; it accepts {accepted}' if accepted else f': {exc}'}", field="index_params") from None
    if not isinstance(made, IndexType):
        raise InputError(f"index {name!r} ({type(made).__name__}) lacks resolve/identity/create/load", field="index")
    return made


def sample_rows(count: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` sorted row numbers drawn without replacement from ``count`` (all rows when ``size >= count``)."""
    if size >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size, replace=False))


def build_index(kind: IndexType, vectors: np.ndarray, train_size: int = 100_000, seed: int = 0,
                chunk: int = ADD_CHUNK, desc: str | None = None) -> VectorIndex:
    """An index of ``kind`` over ``vectors`` (a memory map is read chunk by chunk, never whole): trained on a
    seeded sample of rows when it needs training, then the rows added in order."""
    count, dim = vectors.shape
    index = kind.create(int(dim), int(count))
    if index.needs_training:
        rows = sample_rows(count, max(train_size, int(getattr(index, "min_train_size", 0))), seed)
        index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    starts: Any = range(0, count, chunk)
    if desc and len(starts) > 1:
        starts = progress(starts, total=len(starts), desc=desc, unit=f"x{chunk}")
    for start in starts:
        index.add(np.ascontiguousarray(vectors[start:start + chunk], dtype=np.float32))
    return index


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = ADD_CHUNK
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-``k`` over ``vectors`` read ``block`` rows at a time (memory flat in the number of
    rows); the order within equal scores is by row."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    count = len(vectors)
    k = min(int(k), count)
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, count, block):
        scores = queries @ np.asarray(vectors[start:start + block], dtype=np.float32).T
        ids = np.arange(start, start + scores.shape[1])[None, :].repeat(len(queries), 0)
        if scores.shape[1] > k:   # this block's own top-k first: the merge below stays small
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores, ids = np.take_along_axis(scores, part, 1), np.take_along_axis(ids, part, 1)
        scores, ids = np.concatenate([best_s, scores], axis=1), np.concatenate([best_i, ids], axis=1)
        order = np.lexsort((ids, -scores), axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
    return best_s, best_i


def recall_at_k(index: VectorIndex, vectors: np.ndarray, k: int = 10, queries: int = 200, seed: int = 1) -> float:
    """Recall@``k`` of ``index`` against exact search, with ``queries`` sampled rows as queries (each row's own
    hit left out of both lists): the share of the exact top-``k`` neighbours the index also returns."""
    k = min(k, len(vectors) - 1)
    if k < 1:
        return 1.0
    rows = sample_rows(len(vectors), queries, seed)
    q = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    _, exact = exact_search(vectors, q, k + 1)
    _, approx = index.search(q, k + 1)
    found = 0
    for row, want, got in zip(rows, exact, approx):
        want = [r for r in want if r != row][:k]
        got = {r for r in got if r != row and r >= 0}
        found += len(got.intersection(want))
    return found / (k * len(rows)) if len(rows) else 1.0


class Rescored:
    """An approximate index whose top ``k x factor`` candidates are re-scored exactly with the stored vectors
    (read from a memory map: only the candidates' rows), best first; ties go to the lower row."""

    def __init__(self, index: VectorIndex, vectors: np.ndarray, factor: int):
        self.index, self.vectors, self.factor = index, vectors, int(factor)

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        _, rows = self.index.search(queries, k * self.factor)
        rows = np.asarray(rows, dtype=np.int64)
        valid = rows >= 0
        unique = np.unique(rows[valid])
        stored = np.asarray(self.vectors[unique], dtype=np.float32)          # sorted rows: reads in file order
        gathered = stored[np.searchsorted(unique, np.where(valid, rows, unique[0] if len(unique) else 0))]
        scores = np.where(valid, np.einsum("qcd,qd->qc", gathered, queries), -np.inf).astype(np.float32)
        order = np.lexsort((np.where(valid, rows, np.iinfo(np.int64).max), -scores), axis=1)[:, :min(k, rows.shape[1])]
        best_s, best_r = np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
        return best_s, np.where(np.isfinite(best_s), best_r, -1)
