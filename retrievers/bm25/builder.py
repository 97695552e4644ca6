"""Postings from batches of documents: each distinct token analysed once, the rest in numpy or numba.

With numba (:mod:`retrievers.bm25.build_kernels`): the compiled scanner tokenizes and hashes a batch, a
token table keyed by the hashes gives every occurrence its token's slot (only tokens never seen before
become strings and go through the analyzer), and a counting pass gives the batch's ``(document, term,
count)`` triples. Without: the tokens by regular expression (:mod:`retrievers.bm25.corpus_tokens`), each
distinct token's terms through a memo, and one ``numpy.unique`` over ``document x vocabulary + term``. A
token has no term (a stop word), one, or several (over 255 characters it is cut into pieces).

At the end the documents are numbered in docno order (so that "ties to the lower number" is "ties by
docno", as ``add_ranks`` has it) and the triples regrouped by term, documents ascending: a counting sort with
numba, an ``argsort`` without. Both ways give the same index. Given :class:`~retrievers.bm25.spill.Runs`,
the triples go to disk every ``run_postings`` and are merged from there at the end
(:mod:`retrievers.bm25.spill`): the same index in bounded memory. Document ids are kept as Arrow strings
(their UTF-8 bytes), not Python objects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from retrievers.bm25.corpus_tokens import TokenBatch, code_points, has_compiled_scanner, tokens_regex
from retrievers.bm25.spill import Runs, open_npy
from retrievers.bm25.unicode_tables import class_table

MEMO_LIMIT = 1_000_000  # distinct tokens remembered between batches


class TermAnalyzer(Protocol):
    """What the builder needs of an analyzer: the indexed term of one token (None for a stop word)."""

    def term(self, token: str) -> str | None: ...


def token_terms(token: str, analyzer: TermAnalyzer, max_token_length: int = 255) -> list[str]:
    """The terms of one token: none (a stop word), one, or one per piece of ``max_token_length``
    characters for a longer token (Lucene cuts those)."""
    if len(token) > max_token_length:
        pieces = [token[i:i + max_token_length] for i in range(0, len(token), max_token_length)]
    else:
        pieces = [token]
    return [t for t in map(analyzer.term, pieces) if t is not None]


class PostingsBuilder:
    """Feed it ``add(docnos, texts)`` batch by batch, then ``finish()`` for the arrays of the index."""

    def __init__(self, analyzer: TermAnalyzer, max_token_length: int = 255, compiled: bool | None = None,
                 runs: Runs | None = None, run_postings: int = 1 << 62):
        self.analyzer = analyzer
        self.max_token_length = max_token_length
        self.compiled = has_compiled_scanner() if compiled is None else compiled
        self.vocab: dict[str, int] = {}
        self.n_docs = 0
        self._docnos: list = []       # pyarrow string arrays, one per batch
        self.runs = runs
        self.run_postings = run_postings
        self._buffered = 0
        self._memo: dict[str, tuple[int, ...]] = {}
        self._lengths: list[np.ndarray] = []
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if self.compiled:
            from retrievers.bm25.build_kernels import TokenTable
            self._table = TokenTable()
            self._slot_ptr = np.zeros(1 << 16, dtype=np.int64)  # terms of slot s: _slot_terms[ptr[s]:ptr[s + 1]]
            self._slot_terms = np.zeros(1 << 16, dtype=np.int32)

    def _analyse(self, token: str) -> tuple[int, ...]:
        """The term ids of one token (new terms join the vocabulary)."""
        return tuple(self.vocab.setdefault(t, len(self.vocab))
                     for t in token_terms(token, self.analyzer, self.max_token_length))

    def _terms(self, token: str) -> tuple[int, ...]:
        got = self._memo.get(token)
        if got is None:
            got = self._analyse(token)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[token] = got
        return got

    def _occurrences(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
        """Term id and document of every term occurrence of the batch."""
        per_token = [self._terms(t) for t in batch.tokens]
        sizes = np.fromiter(map(len, per_token), dtype=np.int64, count=len(per_token))
        if len(sizes) == 0 or sizes.max() <= 1:  # the usual case: one term or none per token
            single = np.fromiter((t[0] if t else -1 for t in per_token), dtype=np.int64, count=len(per_token))
            terms = single[batch.codes]
            keep = terms >= 0
            return terms[keep], batch.docs[keep]
        flat = np.fromiter((i for t in per_token for i in t), dtype=np.int64, count=int(sizes.sum()))
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        counts = sizes[batch.codes]
        first = np.repeat(starts[batch.codes], counts)
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return flat[first + within], np.repeat(batch.docs, counts)

    def add(self, docnos: list[str], texts: list[str]) -> None:
        """Index one batch of documents."""
        import pyarrow as pa

        if self.compiled:
            docs, terms, tf, lengths = self._count_compiled(texts)
        else:
            docs, terms, tf, lengths = self._count_regex(texts)
        self._parts.append((docs, terms, tf))
        self._lengths.append(lengths)
        self._docnos.append(pa.array(docnos, type=pa.string()))
        self.n_docs += len(docnos)
        self._buffered += len(docs)
        if self.runs is not None and self._buffered >= self.run_postings:
            self._spill()

    def _spill(self) -> None:
        if self._parts:
            self.runs.write(*(np.concatenate(column) for column in zip(*self._parts)))  # type: ignore[union-attr]
        self._parts.clear()
        self._buffered = 0

    def _count_regex(self, texts: list[str]) -> tuple[np.ndarray, ...]:
        n, offset = len(texts), self.n_docs
        terms, docs = self._occurrences(tokens_regex(texts))
        width = max(len(self.vocab), 1)
        keys, tf = np.unique(docs.astype(np.int64) * width + terms, return_counts=True)  # by document, then term
        return ((keys // width + offset).astype(np.int32), (keys % width).astype(np.int32), tf.astype(np.int32),
                np.bincount(docs, minlength=n).astype(np.int64))

    def _count_compiled(self, texts: list[str]) -> tuple[np.ndarray, ...]:
        from retrievers.bm25.build_kernels import count_batch, scan_batch
        joined, points, bounds = code_points([t.replace("\x00", " ") if "\x00" in t else t for t in texts])
        starts, ends, docs, hash_a, hash_b = scan_batch(points, bounds, class_table())
        first_new = self._table.n_slots
        slots, new_at = self._table.assign(hash_a, hash_b)
        new_terms = [self._analyse(joined[s:e]) for s, e in zip(starts[new_at].tolist(), ends[new_at].tolist())]
        sizes = np.fromiter(map(len, new_terms), dtype=np.int64, count=len(new_terms))
        flat = np.fromiter((t for terms in new_terms for t in terms), dtype=np.int32, count=int(sizes.sum()))
        used = int(self._slot_ptr[first_new])
        self._slot_ptr = _fit(self._slot_ptr, first_new + len(sizes) + 1)
        self._slot_ptr[first_new + 1:first_new + len(sizes) + 1] = used + np.cumsum(sizes)
        self._slot_terms = _fit(self._slot_terms, used + len(flat))
        self._slot_terms[used:used + len(flat)] = flat
        return count_batch(docs, slots, self._slot_ptr, self._slot_terms, len(texts), max(len(self.vocab), 1),
                           self.n_docs)

    def _docno_order(self):
        """The documents' ids (one Arrow array) and the order that sorts them (code point order, as Python's)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        docnos = pa.chunked_array(self._docnos, type=pa.string()).combine_chunks() if self._docnos else \
            pa.array([], pa.string())
        self._docnos.clear()
        order = np.asarray(pc.sort_indices(docnos), dtype=np.int64)   # UTF-8 byte order = code point order
        return docnos.take(order), order

    def finish(self, folder: Path | None = None) -> dict[str, object]:
        """``docnos`` (an Arrow array) and ``terms`` (both sorted: documents and terms are numbered in that
        order), ``lengths`` (per document), and the CSR postings by term: ``indptr``, ``docs``, ``tf``. With
        runs on disk, ``docs`` and ``tf`` are written into ``folder`` as ``.npy`` files (and come back None)."""
        n_docs, n_terms = self.n_docs, len(self.vocab)
        spilled = self.runs is not None and len(self.runs) > 0
        if spilled:
            self._spill()   # the last postings to disk before anything else is held
        docnos, order = self._docno_order()
        new_number = np.empty(n_docs, dtype=np.int32)
        new_number[order] = np.arange(n_docs, dtype=np.int32)
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        self._lengths.clear()
        term_list = sorted(self.vocab)  # term ids in term order: the same index whatever the batches
        renumber = np.empty(n_terms, dtype=np.int32)
        renumber[[self.vocab[t] for t in term_list]] = np.arange(n_terms, dtype=np.int32)
        out = {"docnos": docnos, "terms": term_list, "lengths": lengths[order]}
        if spilled:
            df = self.runs.sort(new_number, renumber, n_docs, n_terms)
            indptr = np.zeros(n_terms + 1, dtype=np.int64)
            np.cumsum(df, out=indptr[1:])
            assert folder is not None, "a build with runs on disk writes its postings into a folder"
            with open_npy(folder / "docs.npy", np.int32, indptr[-1]) as docs_out, \
                    open_npy(folder / "tf.npy", np.float32, indptr[-1]) as tf_out:
                self.runs.merge(indptr, docs_out, tf_out, self.run_postings)
            self.runs.remove()
            return {**out, "indptr": indptr, "docs": None, "tf": None}
        if self._parts:
            docs, terms, tf = (np.concatenate(column) for column in zip(*self._parts))
        else:
            docs = terms = tf = np.zeros(0, np.int32)
        self._parts.clear()
        terms = renumber[terms]
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
        if self.compiled:
            from retrievers.bm25.build_kernels import group_by_term
            doc_ptr = np.zeros(n_docs + 1, dtype=np.int64)
            np.cumsum(np.bincount(docs, minlength=n_docs), out=doc_ptr[1:])
            out_docs, out_tf = group_by_term(order, doc_ptr, terms, tf, indptr)
        else:
            by_term = np.argsort(terms.astype(np.int64) * max(n_docs, 1) + new_number[docs], kind="stable")
            out_docs, out_tf = new_number[docs][by_term], tf[by_term]
        return {**out, "indptr": indptr, "docs": out_docs.astype(np.int32), "tf": out_tf.astype(np.float32)}


def _fit(array: np.ndarray, size: int) -> np.ndarray:
    """``array``, or a copy with room for at least ``size`` items (doubling)."""
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    grown[:len(array)] = array
    return grown
