"""Queries as the search kernels take them, and their hits as ragif's results table.

:func:`encode_queries` analyses a batch of queries at once (one regular-expression pass over all of them,
each distinct token analysed once) into CSR arrays of known term ids and counts: Anserini's bag of words.
:func:`hits_frame` turns the ``(queries x k)`` arrays of hits into the results table column by column
(typed ``take`` on the columns' arrays, no Python object per row).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from retrievers.bm25.builder import TermAnalyzer, token_terms
from retrievers.bm25.corpus_tokens import tokens_regex


def encode_queries(texts: list[str], analyzer: TermAnalyzer, vocabulary: dict[str, int],
                   max_token_length: int = 255) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q_indptr, q_terms, q_counts)``: query ``i``'s known terms are ``q_terms[q_indptr[i]:q_indptr[i+1]]``
    (ascending), each with its count; terms the index does not know are left out."""
    batch = tokens_regex(texts)
    term, known = analyzer.term, vocabulary.get
    # a token of at most max_token_length characters has one term or none (-1: a stop word or unknown term)
    first = np.fromiter((known(term(tok), -1) if len(tok) <= max_token_length else -2 for tok in batch.tokens),
                        dtype=np.int64, count=len(batch.tokens))
    if (first == -2).any():   # longer tokens are cut into several terms
        per_token = [[vocabulary[t] for t in token_terms(tok, analyzer, max_token_length) if t in vocabulary]
                     for tok in batch.tokens]
        sizes = np.fromiter(map(len, per_token), dtype=np.int64, count=len(per_token))
        flat = np.fromiter((i for ids in per_token for i in ids), dtype=np.int64, count=int(sizes.sum()))
    else:
        sizes = (first >= 0).astype(np.int64)
        flat = first[first >= 0]
    starts = np.cumsum(sizes) - sizes
    counts = sizes[batch.codes]
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    terms = flat[np.repeat(starts[batch.codes], counts) + within]
    queries = np.repeat(batch.docs.astype(np.int64), counts)
    width = max(len(vocabulary), 1)
    keys, tf = np.unique(queries * width + terms, return_counts=True)
    q_indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=len(texts)), out=q_indptr[1:])
    return q_indptr, keys % width, tf.astype(np.int64)


def hits_frame(queries: pd.DataFrame, columns: list[str], docnos: pd.api.extensions.ExtensionArray,
               docs: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """The results table: for every hit (``docs >= 0``, rows in query order, hits best first), the query's
    ``columns``, then ``docno``, ``score`` (float64) and ``rank`` (from 0)."""
    n_queries, k = docs.shape
    if docs.size and docs.min() >= 0:   # every query has k hits: no mask to apply
        rows = np.repeat(np.arange(n_queries, dtype=np.int64), k)
        ranks = np.tile(np.arange(k, dtype=np.int64), n_queries)
        found, found_scores = docs.ravel(), scores.ravel()
    else:
        hits = docs >= 0
        rows, ranks = np.nonzero(hits)
        found, found_scores = docs[hits], scores[hits]
    table = {c: queries[c].array.take(rows) for c in columns}
    table["docno"] = docnos.take(found)
    table["score"] = found_scores.astype(np.float64)
    table["rank"] = ranks.astype(np.int64, copy=False)
    return pd.DataFrame(table, copy=False)
