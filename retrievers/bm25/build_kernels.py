"""numba kernels of the index build (only imported when numba is installed).

- :func:`scan_batch`: the scanner over a batch's code points, and for every token two independent 64-bit
  hashes of its code points;
- :class:`TokenTable`: distinct tokens of the whole corpus in an open-addressing hash table keyed by both
  hashes (128 bits, the second one also mixing in the length: a false match needs both to collide), each
  with a slot number;
- :func:`count_batch`: per document, the count of each term (a token's slot leads to its terms);
- :func:`group_by_term`: document-major postings regrouped by term, documents in their final order.
"""
from __future__ import annotations

import numba
import numpy as np

from retrievers.bm25.scanner import scan

_scan = numba.njit(cache=True, nogil=True)(scan)


@numba.njit(cache=True, nogil=True)
def scan_batch(points, bounds, table):
    """Token spans, documents and hashes of the texts ``points[bounds[d]:bounds[d + 1]]``."""
    n = len(points)
    classes = np.empty(n, dtype=np.uint8)
    for i in range(n):
        classes[i] = table[points[i]]
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    docs = np.empty(n, dtype=np.int32)
    count = 0
    for d in range(len(bounds) - 1):
        first = count
        count = _scan(classes, bounds[d], bounds[d + 1], starts, ends, count)
        docs[first:count] = d
    hash_a = np.empty(count, dtype=np.uint64)
    hash_b = np.empty(count, dtype=np.uint64)
    for t in range(count):
        a = np.uint64(14695981039346656037)  # FNV-1a
        b = np.uint64(0x9E3779B97F4A7C15)     # a polynomial hash with another multiplier
        for p in range(starts[t], ends[t]):
            cp = np.uint64(points[p])
            a = (a ^ cp) * np.uint64(1099511628211)
            b = b * np.uint64(0x100000001B3F) + cp + np.uint64(1)
        hash_a[t] = a
        hash_b[t] = (b ^ (b >> np.uint64(29))) + np.uint64(ends[t] - starts[t]) * np.uint64(0x9E3779B97F4A7C15)
    return starts[:count], ends[:count], docs[:count], hash_a, hash_b


@numba.njit(cache=True, nogil=True)
def _assign(entries, hash_a, hash_b, start, slots, new_at, n_new, n_slots, limit):
    """Slots of ``hash_a[start:]`` until the table holds ``limit`` tokens; returns where it stopped."""
    mask = np.uint64(len(entries) - 1)
    for i in range(start, len(hash_a)):
        if n_slots >= limit:
            return i, n_new, n_slots
        a, b = hash_a[i], hash_b[i]
        p = a & mask
        while True:
            s = entries[p, 2]
            if s == 0:
                entries[p, 0], entries[p, 1], entries[p, 2] = a, b, np.uint64(n_slots + 1)
                slots[i] = n_slots
                new_at[n_new] = i
                n_new += 1
                n_slots += 1
                break
            if entries[p, 0] == a and entries[p, 1] == b:
                slots[i] = np.int64(s) - 1
                break
            p = (p + np.uint64(1)) & mask
    return len(hash_a), n_new, n_slots


@numba.njit(cache=True, nogil=True)
def _rehash(entries, size):
    grown = np.zeros((size, 3), dtype=np.uint64)
    mask = np.uint64(size - 1)
    for q in range(len(entries)):
        if entries[q, 2] != 0:
            p = entries[q, 0] & mask
            while grown[p, 2] != 0:
                p = (p + np.uint64(1)) & mask
            grown[p, 0], grown[p, 1], grown[p, 2] = entries[q, 0], entries[q, 1], entries[q, 2]
    return grown


class TokenTable:
    """The distinct tokens seen so far: ``assign`` gives each occurrence its token's slot (new tokens get
    the next free slots, in order of first occurrence). Open addressing with linear probing; an entry is
    ``(hash a, hash b, slot + 1)``, 0 marking a free one; at most half full."""

    def __init__(self, size: int = 1 << 16):
        self.n_slots = 0
        self.entries = np.zeros((size, 3), dtype=np.uint64)

    def assign(self, hash_a: np.ndarray, hash_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(slot of every occurrence, index of the first occurrence of every new token)``."""
        slots = np.empty(len(hash_a), dtype=np.int64)
        new_at = np.empty(len(hash_a), dtype=np.int64)
        done, n_new = 0, 0
        while True:
            done, n_new, self.n_slots = _assign(self.entries, hash_a, hash_b, done, slots, new_at, n_new,
                                                self.n_slots, len(self.entries) // 2)
            if done == len(hash_a):
                return slots, new_at[:n_new]
            self.entries = _rehash(self.entries, 2 * len(self.entries))


@numba.njit(cache=True, nogil=True)
def count_batch(docs, slots, slot_ptr, slot_terms, n_docs, n_terms, doc_offset):
    """``(doc, term, count)`` of a batch, document by document (``docs`` ascending), and document lengths."""
    total = 0
    for i in range(len(slots)):
        total += slot_ptr[slots[i] + 1] - slot_ptr[slots[i]]
    out_docs = np.empty(total, dtype=np.int32)
    out_terms = np.empty(total, dtype=np.int32)
    out_tf = np.empty(total, dtype=np.int32)
    lengths = np.zeros(n_docs, dtype=np.int64)
    counts = np.zeros(n_terms, dtype=np.int32)
    seen = np.empty(n_terms, dtype=np.int32)
    n_out = 0
    i = 0
    while i < len(slots):
        d = docs[i]
        n_seen = 0
        while i < len(slots) and docs[i] == d:
            s = slots[i]
            for q in range(slot_ptr[s], slot_ptr[s + 1]):
                t = slot_terms[q]
                if counts[t] == 0:
                    seen[n_seen] = t
                    n_seen += 1
                counts[t] += 1
                lengths[d] += 1
            i += 1
        for j in range(n_seen):
            t = seen[j]
            out_docs[n_out] = d + doc_offset
            out_terms[n_out] = t
            out_tf[n_out] = counts[t]
            counts[t] = 0
            n_out += 1
    return out_docs[:n_out], out_terms[:n_out], out_tf[:n_out], lengths


@numba.njit(cache=True, nogil=True)
def group_by_term(order, doc_ptr, terms, tf, indptr):
    """Scatter document-major postings into term groups, visiting documents in their new order."""
    fill = indptr[:-1].copy()
    out_docs = np.empty(len(terms), dtype=np.int32)
    out_tf = np.empty(len(terms), dtype=np.int32)
    for new in range(len(order)):
        old = order[new]
        for p in range(doc_ptr[old], doc_ptr[old + 1]):
            t = terms[p]
            out_docs[fill[t]] = new
            out_tf[fill[t]] = tf[p]
            fill[t] += 1
    return out_docs, out_tf
