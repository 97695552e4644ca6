"""Top-k BM25 search over a :class:`~retrievers.bm25.index.PostingsIndex`: a numba kernel (threads over
queries) and a numpy fallback that give the same results.

Queries arrive as CSR arrays (``q_indptr``, ``q_terms``, ``q_counts``): the term ids of each query with their
counts, each query's terms in the order :func:`order_terms` gives (largest possible contribution first).
A term counted once scores with the precomputed impacts; a repeated term is scored as Lucene scores a
boosted term query (``w = count x idf``). Contributions are summed in double in that order and rounded to
float; ties go to the lower document number (Lucene's rule). Documents that match no query term are never
hits; every document that matches one is a candidate, whatever its score.

The numba kernel skips work that cannot change the top k (MaxScore): it adds up the terms one by one into a
dense accumulator, and once the ``k``-th best partial score exceeds what the remaining terms could add to
any document (their largest impacts), documents not seen yet cannot enter the top k any more; the remaining
terms are then only looked up, by merge or binary search in their sorted postings, for the few documents
that still can. Bounds carry a safety margin far above float rounding, so the result is exactly the
exhaustive one (``tests/test_fast_bm25.py`` compares the two engines).
"""
from __future__ import annotations

import numpy as np

from retrievers.bm25.search_kernels import numba, search_kernel

BOUND_SLACK = 1e-5  # relative margin on upper bounds of repeated terms (float rounding is ~1e-7)


def order_terms(q_indptr: np.ndarray, q_terms: np.ndarray, q_counts: np.ndarray,
                max_impact: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's terms by decreasing upper bound of their contribution (ties by term id), with the bounds:
    ``(terms, counts, bounds)``. This order is also the order contributions are summed in."""
    n_queries = len(q_indptr) - 1
    query_of = np.repeat(np.arange(n_queries), np.diff(q_indptr))
    bounds = max_impact[q_terms].astype(np.float64)
    repeated = q_counts != 1
    bounds[repeated] *= q_counts[repeated] * (1.0 + BOUND_SLACK)
    order = np.lexsort((q_terms, -bounds, query_of))
    return q_terms[order], q_counts[order].astype(np.int64), bounds[order]


def _term_scores(start: int, end: int, count: int, idf: np.float32, docs: np.ndarray, tf: np.ndarray,
                 impacts: np.ndarray, inv_norm: np.ndarray) -> np.ndarray:
    if count == 1:
        return impacts[start:end]
    w = np.float32(count) * idf
    return w - w / (np.float32(1.0) + tf[start:end] * inv_norm[docs[start:end]])


def search_numpy(q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, n_docs: int, k: int):
    """Exhaustive reference implementation: ``(doc_ids, scores)`` of shape (n_queries, k), -1 padded."""
    n_queries = len(q_indptr) - 1
    out_docs = np.full((n_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((n_queries, k), dtype=np.float32)
    acc = np.zeros(n_docs, dtype=np.float64)
    for qi in range(n_queries):
        touched = []
        for p in range(q_indptr[qi], q_indptr[qi + 1]):
            t = q_terms[p]
            start, end = indptr[t], indptr[t + 1]
            acc[docs[start:end]] += _term_scores(start, end, q_counts[p], idf[t], docs, tf, impacts, inv_norm)
            touched.append(docs[start:end])
        if not touched:
            continue
        cand = np.unique(np.concatenate(touched))
        scores = acc[cand].astype(np.float32)
        acc[cand] = 0.0
        order = np.lexsort((cand, -scores))[:k]
        out_docs[qi, :len(order)] = cand[order]
        out_scores[qi, :len(order)] = scores[order]
    return out_docs, out_scores


def search_numba(q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, n_docs: int,
                 k: int, threads: int = 1, has_zero_impacts: bool = False):
    """The numba kernel (``bounds``: the upper bounds :func:`order_terms` gives); queries split over
    ``threads`` threads, one workspace each. ``has_zero_impacts``: some impact is exactly 0.0 (documents tens
    of millions of times longer than average), so a zero accumulator cannot mean "not seen yet"."""
    if numba is None:
        raise ImportError("numba is not installed")
    n_queries = len(q_indptr) - 1
    out_docs = np.full((n_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((n_queries, k), dtype=np.float32)
    if n_queries == 0:
        return out_docs, out_scores
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS, n_queries))
    args = (np.ascontiguousarray(q_indptr, dtype=np.int64), np.ascontiguousarray(q_terms, dtype=np.int64),
            np.ascontiguousarray(q_counts, dtype=np.int64), np.ascontiguousarray(bounds, dtype=np.float64),
            indptr, docs, tf, impacts, idf, inv_norm, n_docs, k, bool(has_zero_impacts), out_docs, out_scores)
    if threads == 1:
        search_kernel(False)(*args, 1)
        return out_docs, out_scores
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        search_kernel(True)(*args, threads)
    finally:
        numba.set_num_threads(previous)
    return out_docs, out_scores


def has_numba() -> bool:
    return numba is not None
