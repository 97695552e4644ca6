"""numba kernels of BM25 top-k search (the algorithm is described in :mod:`retrievers.bm25.search`).

Each thread owns a workspace: a dense float64 accumulator over the documents, the list of documents seen,
candidate arrays and a heap. ``search_kernel(parallel)`` gives the serial or the ``prange`` entry point,
both with the signature ``(q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm,
n_docs, k, zero_safe, out_docs, out_scores, n_blocks)``.
"""
from __future__ import annotations

import numpy as np

try:  # numba is optional (extra "fast"); without it the numpy path serves
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None

MARGIN = 1e-6  # relative: a document is dropped only when its bound is below (1 - MARGIN) x the k-th score


def search_kernel(parallel: bool):
    """The compiled entry point (needs numba)."""
    return _search_parallel if parallel else _search_serial


if numba is not None:
    from retrievers.bm25.topk_kernels import kth_largest, select, select_dense, select_touched, sort_by_doc

    @numba.njit(cache=True, nogil=True, inline="always")
    def _score(count, j, d, t, tf, impacts, idf, inv_norm):
        if count == 1:
            return impacts[j]
        w = np.float32(count) * idf[t]
        return w - w / (np.float32(1.0) + tf[j] * inv_norm[d])

    @numba.njit(cache=True, nogil=True)
    def _accumulate(t, count, indptr, docs, tf, impacts, idf, inv_norm, acc, touched, n, zero_safe, mark):
        """Add one term's postings; new documents go to ``touched`` (returns its new length)."""
        start, end = indptr[t], indptr[t + 1]
        if zero_safe:
            for j in range(start, end):
                d = docs[j]
                if mark[d] == 0:
                    mark[d] = 1
                    touched[n] = d
                    n += 1
                acc[d] += _score(count, j, d, t, tf, impacts, idf, inv_norm)
        elif count == 1:  # branch-free: a document is new when its sum is still exactly 0
            for j in range(start, end):
                d = docs[j]
                a = acc[d]
                touched[n] = d
                n += a == 0.0
                acc[d] = a + impacts[j]
        else:
            w = np.float32(count) * idf[t]
            one = np.float32(1.0)
            for j in range(start, end):
                d = docs[j]
                a = acc[d]
                touched[n] = d
                n += a == 0.0
                acc[d] = a + (w - w / (one + tf[j] * inv_norm[d]))
        return n

    @numba.njit(cache=True, nogil=True)
    def _probe(t, count, indptr, docs, tf, impacts, idf, inv_norm, cand, cand_scores, n_cand):
        """Add one term's contribution to the candidates (sorted by document) only: a linear merge when
        the postings are not much longer than the candidates, else a galloping search from the last hit."""
        start, end = indptr[t], indptr[t + 1]
        j = start
        if end - start <= 32 * n_cand:
            for i in range(n_cand):
                d = cand[i]
                while j < end and docs[j] < d:
                    j += 1
                if j == end:
                    return
                if docs[j] == d:
                    cand_scores[i] += _score(count, j, d, t, tf, impacts, idf, inv_norm)
                    j += 1
            return
        for i in range(n_cand):
            if j >= end:
                return
            d = cand[i]
            step = 1
            while j + step < end and docs[j + step] < d:  # gallop until docs[j + step] >= d (or the end)
                j += step
                step *= 2
            width = min(step, end - j)
            while width > 1:  # branch-free lower bound of d in docs[j:j + width]
                half = width >> 1
                j = j + half if docs[j + half] < d else j
                width -= half
            j += docs[j] < d
            if j < end and docs[j] == d:
                cand_scores[i] += _score(count, j, d, t, tf, impacts, idf, inv_norm)
                j += 1

    @numba.njit(cache=True, nogil=True)
    def _one_query(qi, q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, k,
                   zero_safe, acc, touched, mark, cand, cand_scores, spare_docs, spare_scores, counts, rest, heap,
                   spare_keys, key_counts, kth_heap, scratch, out_docs, out_scores):
        first, last = q_indptr[qi], q_indptr[qi + 1]
        if first == last:
            return
        total = 0.0
        for p in range(last - 1, first - 1, -1):  # rest[p - first]: the most terms p.. can add
            total += bounds[p]
            rest[p - first] = total
        rest[last - first] = 0.0
        n, switch, floor = 0, last, 0.0
        for p in range(first, last):
            t = q_terms[p]
            left = rest[p - first]  # the k-th score is at most total - left: no use looking before that is more
            if n >= k and 4 * (indptr[t + 1] - indptr[t]) >= n and left < total - left:
                above, bar = 0, left / (1.0 - MARGIN)  # the k-th score must clear this: gather those that do
                for i in range(n):
                    v = acc[touched[i]]
                    spare_scores[above] = v
                    above += v > bar
                if above >= k:
                    switch, floor = p, kth_largest(spare_scores, above, k, kth_heap, scratch) * (1.0 - MARGIN)
                    break
            n = _accumulate(t, q_counts[p], indptr, docs, tf, impacts, idf, inv_norm, acc, touched, n,
                            zero_safe, mark)
        if switch == last:  # nothing pruned: every document seen is a candidate
            if not zero_safe and 4 * n > len(acc):  # most documents seen: scan them in order
                select_dense(acc, k, heap, spare_keys, key_counts, out_docs, out_scores, qi)
            else:
                select_touched(acc, touched, n, zero_safe, mark, k, heap, spare_keys, key_counts, out_docs,
                                out_scores, qi)
            return
        n_cand = 0
        bound = rest[switch - first]
        for i in range(n):  # gather the candidates, clear the workspace
            d = touched[i]
            v = acc[d]
            acc[d] = 0.0
            if zero_safe:
                mark[d] = 0
            if v + bound >= floor:
                cand[n_cand] = d
                cand_scores[n_cand] = v
                n_cand += 1
        sort_by_doc(cand, cand_scores, n_cand, spare_docs, spare_scores, counts, len(acc))
        for p in range(switch, last):
            _probe(q_terms[p], q_counts[p], indptr, docs, tf, impacts, idf, inv_norm, cand, cand_scores, n_cand)
            if p < last - 1 and n_cand > k:  # the k-th partial score has grown: raise the bar
                reach = 0  # only scores above the bar can be the k-th
                for i in range(n_cand):
                    v = cand_scores[i]
                    spare_scores[reach] = v
                    reach += v >= floor
                if reach >= k:
                    floor = max(floor, kth_largest(spare_scores, reach, k, kth_heap, scratch) * (1.0 - MARGIN))
            kept = 0
            for i in range(n_cand):  # drop the candidates that can no longer reach the k-th score
                if cand_scores[i] + rest[p + 1 - first] >= floor:
                    cand[kept] = cand[i]
                    cand_scores[kept] = cand_scores[i]
                    kept += 1
            n_cand = kept
        select(cand, cand_scores, n_cand, k, heap, spare_keys, key_counts, out_docs, out_scores, qi)

    @numba.njit(cache=True, nogil=True)
    def _block(block, n_blocks, q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm,
               n_docs, k, zero_safe, out_docs, out_scores):
        n_queries = len(q_indptr) - 1
        longest = 0
        for qi in range(n_queries):
            longest = max(longest, q_indptr[qi + 1] - q_indptr[qi])
        acc = np.zeros(n_docs, dtype=np.float64)
        touched = np.empty(n_docs + 1, dtype=np.int32)
        mark = np.zeros(n_docs if zero_safe else 1, dtype=np.uint8)
        cand = np.empty(n_docs, dtype=np.int32)
        cand_scores = np.empty(n_docs, dtype=np.float64)
        rest = np.empty(longest + 1, dtype=np.float64)
        heap = np.empty(k, dtype=np.uint64)
        spare_keys = np.empty(k, dtype=np.uint64)
        key_counts = np.empty(257, dtype=np.int64)
        kth_heap = np.empty(k, dtype=np.float64)
        spare_docs = np.empty(n_docs, dtype=np.int32)
        spare_scores = np.empty(n_docs, dtype=np.float64)
        scratch = np.empty(n_docs, dtype=np.float64)
        counts = np.empty(2049, dtype=np.int64)
        for qi in range(block, n_queries, n_blocks):
            _one_query(qi, q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, k,
                       zero_safe, acc, touched, mark, cand, cand_scores, spare_docs, spare_scores, counts, rest,
                       heap, spare_keys, key_counts, kth_heap, scratch, out_docs, out_scores)

    @numba.njit(cache=True, nogil=True)
    def _search_serial(q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, n_docs, k,
                       zero_safe, out_docs, out_scores, n_blocks):
        _block(0, 1, q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, n_docs, k,
               zero_safe, out_docs, out_scores)

    @numba.njit(cache=True, parallel=True)
    def _search_parallel(q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm, n_docs, k,
                         zero_safe, out_docs, out_scores, n_blocks):
        for block in numba.prange(n_blocks):
            _block(block, n_blocks, q_indptr, q_terms, q_counts, bounds, indptr, docs, tf, impacts, idf, inv_norm,
                   n_docs, k, zero_safe, out_docs, out_scores)
