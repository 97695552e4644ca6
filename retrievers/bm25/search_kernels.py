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
    def _sort_by_doc(cand, cand_scores, n, spare_docs, spare_scores, counts, n_docs):
        """Sort the candidates by document in place: least-significant-digit radix sort, 11 bits a pass
        (``np.argsort`` costs several times more on these short arrays)."""
        shift, passes = 0, 0
        src_d, src_s, dst_d, dst_s = cand, cand_scores, spare_docs, spare_scores
        while (n_docs - 1) >> shift > 0 or shift == 0:
            counts[:] = 0
            for i in range(n):
                counts[((src_d[i] >> shift) & 2047) + 1] += 1
            for b in range(1, 2049):
                counts[b] += counts[b - 1]
            for i in range(n):
                b = (src_d[i] >> shift) & 2047
                dst_d[counts[b]] = src_d[i]
                dst_s[counts[b]] = src_s[i]
                counts[b] += 1
            src_d, src_s, dst_d, dst_s = dst_d, dst_s, src_d, src_s
            shift += 11
            passes += 1
        if passes % 2 == 1:  # the sorted run ended in the spare arrays
            cand[:n] = spare_docs[:n]
            cand_scores[:n] = spare_scores[:n]

    @numba.njit(cache=True, nogil=True)
    def _kth_largest(values, n, k, heap, scratch):
        """The ``k``-th largest of ``values[:n]`` (``n >= k``). Long arrays: a strided sample gives a value
        that about ``2k`` of them reach, only those go through the heap (exact: when fewer than ``k`` reach
        it, the whole array does)."""
        stride = n // (8 * k)
        if stride >= 4:
            m = n // stride
            rank = 2 * k // stride + 1  # in the sample: about twice the k-th, so at least k reach it w.h.p.
            for i in range(m):
                scratch[i] = values[i * stride]
            guess = _heap_kth(scratch, m, rank, heap)
            kept = 0
            for i in range(n):
                v = values[i]
                scratch[kept] = v
                kept += v >= guess
            if kept >= k:
                return _heap_kth(scratch, kept, k, heap)
        return _heap_kth(values, n, k, heap)

    @numba.njit(cache=True, nogil=True)
    def _heap_kth(values, n, k, heap):
        """The ``k``-th largest of ``values[:n]`` by a min-heap of the ``k`` largest (numba's
        ``np.partition`` degrades badly on long arrays)."""
        for i in range(k):  # heapify the first k
            heap[i] = values[i]
        for start in range(k // 2 - 1, -1, -1):
            _sift_min(heap, k, start)
        for i in range(k, n):
            if values[i] > heap[0]:
                heap[0] = values[i]
                _sift_min(heap, k, 0)
        return heap[0]

    @numba.njit(cache=True, nogil=True)
    def _sift_min(heap, size, i):
        while True:
            child = 2 * i + 1
            if child >= size:
                return
            if child + 1 < size and heap[child + 1] < heap[child]:
                child += 1
            if heap[child] >= heap[i]:
                return
            heap[i], heap[child] = heap[child], heap[i]
            i = child

    @numba.njit(cache=True, nogil=True)
    def _key(score, d, slot, bits):
        """A hit as one integer that orders like the ranking: the float's bits (scores are >= 0), then the
        document number reversed (ties to the lower one). ``slot`` is a float32 array of one, ``bits`` its
        uint32 view."""
        slot[0] = score
        return (np.uint64(bits[0]) << np.uint64(32)) | np.uint64(0xFFFFFFFF - d)

    @numba.njit(cache=True, nogil=True)
    def _sift_down(heap, size, i):
        while True:  # min-heap of keys: the root is the worst hit kept
            child = 2 * i + 1
            if child >= size:
                return
            if child + 1 < size and heap[child + 1] < heap[child]:
                child += 1
            if heap[child] >= heap[i]:
                return
            heap[i], heap[child] = heap[child], heap[i]
            i = child

    @numba.njit(cache=True, nogil=True)
    def _push(key, size, k, heap):
        """Offer one hit to the heap of the best ``k``; returns the heap's size."""
        if size == k:
            if key > heap[0]:
                heap[0] = key
                _sift_down(heap, size, 0)
            return size
        heap[size] = key
        c = size
        while c > 0:
            parent = (c - 1) >> 1
            if heap[c] >= heap[parent]:
                break
            heap[c], heap[parent] = heap[parent], heap[c]
            c = parent
        return size + 1

    @numba.njit(cache=True, nogil=True)
    def _emit(heap, size, spare, counts, out_docs, out_scores, qi):
        """Write the best of the ``size`` keys in ``heap`` (as many as ``out_docs`` has columns) best first:
        sorted by insertion when few, else by radix (8 bits a pass), both cheaper than popping a heap."""
        if size <= 128:
            for i in range(1, size):
                key = heap[i]
                j = i - 1
                while j >= 0 and heap[j] > key:
                    heap[j + 1] = heap[j]
                    j -= 1
                heap[j + 1] = key
        else:
            src, dst = heap, spare
            for shift in range(0, 64, 8):
                counts[:] = 0
                for i in range(size):
                    counts[((src[i] >> np.uint64(shift)) & np.uint64(0xFF)) + np.uint64(1)] += 1
                for b in range(1, 257):
                    counts[b] += counts[b - 1]
                for i in range(size):
                    b = (src[i] >> np.uint64(shift)) & np.uint64(0xFF)
                    dst[counts[b]] = src[i]
                    counts[b] += 1
                src, dst = dst, src  # eight passes: the sorted keys end up back in heap
        bits = np.empty(1, dtype=np.uint32)
        score = bits.view(np.float32)
        for pos in range(min(size, out_docs.shape[1])):  # keys ascending: the best is last
            key = heap[size - 1 - pos]
            bits[0] = np.uint32(key >> np.uint64(32))
            out_scores[qi, pos] = score[0]
            out_docs[qi, pos] = np.int32(np.uint64(0xFFFFFFFF) - (key & np.uint64(0xFFFFFFFF)))

    @numba.njit(cache=True, nogil=True)
    def _root_score(heap, slot, bits):
        """The score of the worst hit kept (the heap's root)."""
        bits[0] = np.uint32(heap[0] >> np.uint64(32))
        return slot[0]

    @numba.njit(cache=True, nogil=True)
    def _select(cand, cand_scores, n_cand, k, heap, spare, counts, out_docs, out_scores, qi):
        """The best ``k`` of the candidates (float scores, ties to the lower document), best first. Once the
        heap is full, a score below its worst is dropped without building its key."""
        size = 0
        slot = np.empty(1, dtype=np.float32)
        bits = slot.view(np.uint32)
        worst = np.float32(-1.0)
        for i in range(n_cand):
            score = np.float32(cand_scores[i])
            if score >= worst:
                size = _push(_key(score, cand[i], slot, bits), size, k, heap)
                if size == k:
                    worst = _root_score(heap, slot, bits)
        _emit(heap, size, spare, counts, out_docs, out_scores, qi)

    @numba.njit(cache=True, nogil=True)
    def _select_touched(acc, touched, n, zero_safe, mark, k, heap, spare, counts, out_docs, out_scores, qi):
        """:func:`_select` over the documents seen (``touched[:n]``), clearing the workspace."""
        size = 0
        slot = np.empty(1, dtype=np.float32)
        bits = slot.view(np.uint32)
        worst = np.float32(-1.0)
        for i in range(n):
            d = touched[i]
            score = np.float32(acc[d])
            acc[d] = 0.0
            if zero_safe:
                mark[d] = 0
            if score >= worst:
                size = _push(_key(score, d, slot, bits), size, k, heap)
                if size == k:
                    worst = _root_score(heap, slot, bits)
        _emit(heap, size, spare, counts, out_docs, out_scores, qi)

    @numba.njit(cache=True, nogil=True)
    def _select_dense(acc, k, heap, spare, counts, out_docs, out_scores, qi):
        """:func:`_select` over every document with a non-zero sum, in order, clearing the accumulator."""
        size = 0
        slot = np.empty(1, dtype=np.float32)
        bits = slot.view(np.uint32)
        worst = np.float32(-1.0)
        for d in range(len(acc)):
            v = acc[d]
            if v != 0.0:
                acc[d] = 0.0
                score = np.float32(v)
                if score >= worst:
                    size = _push(_key(score, d, slot, bits), size, k, heap)
                    if size == k:
                        worst = _root_score(heap, slot, bits)
        _emit(heap, size, spare, counts, out_docs, out_scores, qi)

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
                    switch, floor = p, _kth_largest(spare_scores, above, k, kth_heap, scratch) * (1.0 - MARGIN)
                    break
            n = _accumulate(t, q_counts[p], indptr, docs, tf, impacts, idf, inv_norm, acc, touched, n,
                            zero_safe, mark)
        if switch == last:  # nothing pruned: every document seen is a candidate
            if not zero_safe and 4 * n > len(acc):  # most documents seen: scan them in order
                _select_dense(acc, k, heap, spare_keys, key_counts, out_docs, out_scores, qi)
            else:
                _select_touched(acc, touched, n, zero_safe, mark, k, heap, spare_keys, key_counts, out_docs,
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
        _sort_by_doc(cand, cand_scores, n_cand, spare_docs, spare_scores, counts, len(acc))
        for p in range(switch, last):
            _probe(q_terms[p], q_counts[p], indptr, docs, tf, impacts, idf, inv_norm, cand, cand_scores, n_cand)
            if p < last - 1 and n_cand > k:  # the k-th partial score has grown: raise the bar
                reach = 0  # only scores above the bar can be the k-th
                for i in range(n_cand):
                    v = cand_scores[i]
                    spare_scores[reach] = v
                    reach += v >= floor
                if reach >= k:
                    floor = max(floor, _kth_largest(spare_scores, reach, k, kth_heap, scratch) * (1.0 - MARGIN))
            kept = 0
            for i in range(n_cand):  # drop the candidates that can no longer reach the k-th score
                if cand_scores[i] + rest[p + 1 - first] >= floor:
                    cand[kept] = cand[i]
                    cand_scores[kept] = cand_scores[i]
                    kept += 1
            n_cand = kept
        _select(cand, cand_scores, n_cand, k, heap, spare_keys, key_counts, out_docs, out_scores, qi)

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
