"""Top-k BM25 search over a :class:`~retrievers.bm25_index.PostingsIndex`: a numba kernel (parallel over
queries) and a numpy fallback that give the same results.

Queries arrive as CSR arrays (``q_indptr``, ``q_terms``, ``q_counts``): the term ids of each query with
their counts. A term counted once scores with the precomputed impacts; a repeated term is scored as
Lucene scores a boosted term query (``w = count x idf``). Sums run in double and are rounded to float;
ties go to the lower document number (Lucene's rule).
"""
from __future__ import annotations

import numpy as np

try:  # numba is optional (extra "fast"); without it the numpy path serves
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None


def _term_scores(start: int, end: int, count: float, idf: np.float32, docs: np.ndarray, tf: np.ndarray,
                 impacts: np.ndarray, inv_norm: np.ndarray) -> np.ndarray:
    if count == 1:
        return impacts[start:end]
    w = np.float32(count) * idf
    return w - w / (np.float32(1.0) + tf[start:end] * inv_norm[docs[start:end]])


def search_numpy(q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, n_docs: int, k: int):
    """Reference implementation: returns ``(doc_ids, scores)`` arrays of shape (n_queries, k), -1 padded."""
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


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def _sift_down(heap_s, heap_d, size, i):
        # min-heap on (score asc, doc desc): the root is the worst hit kept so far
        while True:
            left = 2 * i + 1
            if left >= size:
                return
            child = left
            right = left + 1
            if right < size and (heap_s[right] < heap_s[left] or
                                 (heap_s[right] == heap_s[left] and heap_d[right] > heap_d[left])):
                child = right
            if heap_s[child] < heap_s[i] or (heap_s[child] == heap_s[i] and heap_d[child] > heap_d[i]):
                heap_s[i], heap_s[child] = heap_s[child], heap_s[i]
                heap_d[i], heap_d[child] = heap_d[child], heap_d[i]
                i = child
            else:
                return

    @numba.njit(cache=True, nogil=True)
    def _one_query(qi, q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, k,
                   acc, touched, out_docs, out_scores):
        n_touched = 0
        n_docs_cap = len(touched)
        one = np.float32(1.0)
        for p in range(q_indptr[qi], q_indptr[qi + 1]):
            t = q_terms[p]
            count = q_counts[p]
            if count == 1:
                for j in range(indptr[t], indptr[t + 1]):
                    d = docs[j]
                    if acc[d] == 0.0 and n_touched < n_docs_cap:
                        touched[n_touched] = d
                        n_touched += 1
                    acc[d] += impacts[j]
            else:
                w = np.float32(count) * idf[t]
                for j in range(indptr[t], indptr[t + 1]):
                    d = docs[j]
                    if acc[d] == 0.0 and n_touched < n_docs_cap:
                        touched[n_touched] = d
                        n_touched += 1
                    acc[d] += w - w / (one + tf[j] * inv_norm[d])
        heap_s = np.empty(k, dtype=np.float32)
        heap_d = np.empty(k, dtype=np.int32)
        size = 0
        for i in range(n_touched):
            d = touched[i]
            if acc[d] == 0.0:  # listed twice (a term that scored 0.0 in float): already taken
                continue
            s = np.float32(acc[d])
            acc[d] = 0.0
            if size < k:
                # sift up
                heap_s[size] = s
                heap_d[size] = d
                c = size
                size += 1
                while c > 0:
                    parent = (c - 1) // 2
                    if heap_s[c] < heap_s[parent] or (heap_s[c] == heap_s[parent] and heap_d[c] > heap_d[parent]):
                        heap_s[c], heap_s[parent] = heap_s[parent], heap_s[c]
                        heap_d[c], heap_d[parent] = heap_d[parent], heap_d[c]
                        c = parent
                    else:
                        break
            elif s > heap_s[0] or (s == heap_s[0] and d < heap_d[0]):
                heap_s[0] = s
                heap_d[0] = d
                _sift_down(heap_s, heap_d, size, 0)
        # pop the heap from worst to best into the output row
        for pos in range(size - 1, -1, -1):
            out_scores[qi, pos] = heap_s[0]
            out_docs[qi, pos] = heap_d[0]
            size -= 1
            heap_s[0] = heap_s[size]
            heap_d[0] = heap_d[size]
            _sift_down(heap_s, heap_d, size, 0)

    @numba.njit(cache=True, parallel=True)
    def _search_numba(q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, n_docs, k,
                      n_blocks, out_docs, out_scores):
        n_queries = len(q_indptr) - 1
        for block in numba.prange(n_blocks):
            acc = np.zeros(n_docs, dtype=np.float64)
            touched = np.empty(n_docs, dtype=np.int32)
            for qi in range(block, n_queries, n_blocks):
                _one_query(qi, q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, k,
                           acc, touched, out_docs, out_scores)


def search_numba(q_indptr, q_terms, q_counts, indptr, docs, tf, impacts, idf, inv_norm, n_docs: int, k: int,
                 threads: int = 1):
    """The numba kernel: queries split over ``threads`` blocks, one accumulator per block."""
    if numba is None:
        raise ImportError("numba is not installed")
    n_queries = len(q_indptr) - 1
    out_docs = np.full((n_queries, k), -1, dtype=np.int32)
    out_scores = np.zeros((n_queries, k), dtype=np.float32)
    if n_queries == 0:
        return out_docs, out_scores
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS, n_queries))
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        _search_numba(q_indptr, q_terms, q_counts.astype(np.int64), indptr, docs, tf, impacts, idf, inv_norm,
                      n_docs, k, threads, out_docs, out_scores)
    finally:
        numba.set_num_threads(previous)
    return out_docs, out_scores


def has_numba() -> bool:
    return numba is not None
