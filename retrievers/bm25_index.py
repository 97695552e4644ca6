"""An inverted index for BM25 in plain numpy arrays (CSR by term), saved as ``.npy`` files that memory-map.

Scores reproduce Lucene 9's ``BM25Similarity`` bit for bit where it matters: document lengths are
stored lossily in one byte (``SmallFloat.intToByte4``) as Lucene's norms are, idf is
``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the documents that have at least one term, each term's
contribution is ``w - w / (1 + tf / (k1 (1 - b + b dl / avgdl)))`` in single precision with ``w = idf x``
the term's count in the query (Anserini's bag-of-words query), summed in double and rounded to float.

Files of an index folder: ``meta.json``, ``terms.json`` (the vocabulary, by term id), ``docnos.json``,
``indptr.npy`` (int64, n_terms + 1), ``docs.npy`` (int32 document numbers, in docno order), ``tf.npy`` (float32) and
``norms.npy`` (uint8 per document). Scoring tables for one ``(k1, b)`` (``impacts.npy``, ``idf.npy``,
``inv_norm.npy``) live in a folder of their own, see :func:`build_impacts`.
"""
from __future__ import annotations

import json
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

FORMAT_VERSION = 2


# ---------------------------------------------------------------------- Lucene's one-byte lengths
def _long_to_int4(i: int) -> int:
    bits = i.bit_length()
    if bits < 4:
        return i
    shift = bits - 4
    return ((i >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits, shift = i & 0x07, (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_NUM_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)


def length_to_byte(length: int) -> int:
    """Lucene's ``SmallFloat.intToByte4``: exact below 24, then 4 significant bits."""
    if length < _NUM_FREE_VALUES:
        return length
    return _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)


def byte_to_length(code: int) -> int:
    if code < _NUM_FREE_VALUES:
        return code
    return min(_NUM_FREE_VALUES + _int4_to_long(code - _NUM_FREE_VALUES), 2**31 - 1)


LENGTH_TABLE = np.array([byte_to_length(c) for c in range(256)], dtype=np.int64)
_BYTE_OF_LENGTH_CUTS = np.array([byte_to_length(c) for c in range(256)], dtype=np.int64)


def lengths_to_bytes(lengths: np.ndarray) -> np.ndarray:
    """Vectorised :func:`length_to_byte` (the largest code whose decoded length is <= the length)."""
    return (np.searchsorted(_BYTE_OF_LENGTH_CUTS, lengths, side="right") - 1).astype(np.uint8)


# ---------------------------------------------------------------------- building
def build_postings(docs: Iterable[tuple[str, str]], analyze: Callable[[str], list[str]], folder: Path,
                   identity: dict) -> int:
    """Analyse ``(docno, text)`` pairs and write the index into ``folder``; returns the document count."""
    vocab: dict[str, int] = {}
    term_ids = array("i")
    lengths = array("q")
    docnos: list[str] = []
    for docno, text in docs:
        ids = [vocab.setdefault(t, len(vocab)) for t in analyze(text)]
        term_ids.extend(ids)
        lengths.append(len(ids))
        docnos.append(docno)
    n_docs = len(docnos)
    lengths_np = np.frombuffer(lengths, dtype=np.int64) if lengths else np.zeros(0, np.int64)
    terms_np = np.frombuffer(term_ids, dtype=np.int32) if term_ids else np.zeros(0, np.int32)
    # documents are numbered in docno order, so "ties to the lower number" is "ties by docno" (add_ranks)
    order = np.argsort(np.array(docnos, dtype=str), kind="stable") if docnos else np.zeros(0, np.int64)
    new_number = np.empty(n_docs, dtype=np.int64)
    new_number[order] = np.arange(n_docs)
    doc_of_token = np.repeat(new_number, lengths_np)
    lengths_np = lengths_np[order]
    docnos = [docnos[i] for i in order]
    keys, tf = np.unique(terms_np.astype(np.int64) * max(n_docs, 1) + doc_of_token, return_counts=True)
    term_of_posting = keys // max(n_docs, 1)
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_of_posting, minlength=len(vocab)), out=indptr[1:])
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "indptr.npy", indptr)
    np.save(folder / "docs.npy", (keys % max(n_docs, 1)).astype(np.int32))
    np.save(folder / "tf.npy", tf.astype(np.float32))
    np.save(folder / "norms.npy", lengths_to_bytes(lengths_np))
    terms = [""] * len(vocab)
    for term, i in vocab.items():
        terms[i] = term
    (folder / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
    (folder / "docnos.json").write_text(json.dumps(docnos, ensure_ascii=False), "utf-8")
    meta = {"format": FORMAT_VERSION, "n_docs": n_docs, "doc_count": int((lengths_np > 0).sum()),
            "sum_total_tf": int(lengths_np.sum()), "n_terms": len(vocab), "n_postings": int(len(tf)),
            "analyzer": identity}
    (folder / "meta.json").write_text(json.dumps(meta, sort_keys=True), "utf-8")
    return n_docs


def build_impacts(index: "PostingsIndex", k1: float, b: float, folder: Path) -> None:
    """Per-posting BM25 scores for query-term weight 1, and the per-term/per-document factors."""
    meta = index.meta
    doc_count = meta["doc_count"]
    avgdl = np.float32(meta["sum_total_tf"] / doc_count) if doc_count else np.float32(1.0)
    k1_, b_ = np.float32(k1), np.float32(b)
    cache = np.float32(1.0) / (k1_ * ((np.float32(1.0) - b_) + b_ * LENGTH_TABLE.astype(np.float32) / avgdl))
    inv_norm = cache.astype(np.float32)[np.asarray(index.norms)]
    df = np.diff(np.asarray(index.indptr)).astype(np.float64)
    idf = np.log(1.0 + (doc_count - df + 0.5) / (df + 0.5)).astype(np.float32)
    idf_per_posting = np.repeat(idf, np.diff(np.asarray(index.indptr)))
    docs, tf = np.asarray(index.docs), np.asarray(index.tf)
    impacts = idf_per_posting - idf_per_posting / (np.float32(1.0) + tf * inv_norm[docs])
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "impacts.npy", impacts.astype(np.float32))
    np.save(folder / "idf.npy", idf)
    np.save(folder / "inv_norm.npy", inv_norm)


# ---------------------------------------------------------------------- reading
@dataclass
class PostingsIndex:
    """The arrays of an index folder (memory-mapped unless ``mmap=False``)."""

    folder: Path
    meta: dict
    terms: dict[str, int]
    docnos: list[str]
    indptr: np.ndarray
    docs: np.ndarray
    tf: np.ndarray
    norms: np.ndarray

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True) -> "PostingsIndex":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder}: index format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
        terms = {t: i for i, t in enumerate(json.loads((folder / "terms.json").read_text("utf-8")))}
        docnos = json.loads((folder / "docnos.json").read_text("utf-8"))
        mode = "r" if mmap else None
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode=mode) for name in ("indptr", "docs", "tf", "norms")}
        return cls(folder, meta, terms, docnos, **arrays)

    @property
    def n_docs(self) -> int:
        return self.meta["n_docs"]


@dataclass
class Impacts:
    """Precomputed BM25 term impacts, idf and document-length norms of an index (memory-mapped)."""

    impacts: np.ndarray
    idf: np.ndarray
    inv_norm: np.ndarray

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True) -> "Impacts":
        folder = Path(folder)
        mode = "r" if mmap else None
        return cls(*(np.load(folder / f"{n}.npy", mmap_mode=mode) for n in ("impacts", "idf", "inv_norm")))
