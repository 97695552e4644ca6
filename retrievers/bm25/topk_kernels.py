"""numba kernels that order and select BM25 hits: the top ``k`` of the candidates (a heap of keys, or a sort
when they are few), the ``k``-th largest partial score (the bar of :mod:`retrievers.bm25.search_kernels`'s
pruning) and the radix sort of candidates by document.

A hit is one ``uint64`` key that orders like the ranking: the float32 score's bits, then the document number
reversed, so that ties go to the lower document (Lucene's rule).
"""
from __future__ import annotations

import numpy as np

try:  # numba is optional (extra "fast")
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None


if numba is not None:
    @numba.njit(cache=True, nogil=True)
    def sort_by_doc(cand, cand_scores, n, spare_docs, spare_scores, counts, n_docs):
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
    def kth_largest(values, n, k, heap, scratch):
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
            _sift_down(heap, k, start)
        for i in range(k, n):
            if values[i] > heap[0]:
                heap[0] = values[i]
                _sift_down(heap, k, 0)
        return heap[0]

    @numba.njit(cache=True, nogil=True)
    def _key(score, d, slot, bits):
        """A hit as one integer that orders like the ranking: the float's bits (scores are >= 0), then the
        document number reversed (ties to the lower one). ``slot`` is a float32 array of one, ``bits`` its
        uint32 view."""
        slot[0] = score
        return (np.uint64(bits[0]) << np.uint64(32)) | np.uint64(0xFFFFFFFF - d)

    @numba.njit(cache=True, nogil=True)
    def _sift_down(heap, size, i):
        """Restore a min-heap (of keys or of scores: the root is the worst kept) below ``i``."""
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
    def select(cand, cand_scores, n_cand, k, heap, spare, counts, out_docs, out_scores, qi):
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
    def select_touched(acc, touched, n, zero_safe, mark, k, heap, spare, counts, out_docs, out_scores, qi):
        """:func:`select` over the documents seen (``touched[:n]``), clearing the workspace."""
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
    def select_dense(acc, k, heap, spare, counts, out_docs, out_scores, qi):
        """:func:`select` over every document with a non-zero sum, in order, clearing the accumulator."""
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
