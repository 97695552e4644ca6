"""An inverted index for BM25 in plain numpy arrays (CSR by term), saved as ``.npy`` files that memory-map.

Scores reproduce Lucene 9's ``BM25Similarity`` bit for bit where it matters: document lengths are
stored lossily in one byte (``SmallFloat.intToByte4``) as Lucene's norms are, idf is
``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the documents that have at least one term, each term's
contribution is ``w - w / (1 + tf / (k1 (1 - b + b dl / avgdl)))`` in single precision with ``w = idf x``
the term's count in the query (Anserini's bag-of-words query), summed in double and rounded to float.

Files of an index folder: ``meta.json``, ``terms.json`` (the vocabulary, by term id), ``docnos.json`` (and the
same as ``docnos.arrow``, which a search memory-maps),
``indptr.npy`` (int64, n_terms + 1), ``docs.npy`` (int32 document numbers, in docno order), ``tf.npy`` (float32) and
``norms.npy`` (uint8 per document). Scoring tables for one ``(k1, b)`` (``impacts.npy``, ``idf.npy``,
``inv_norm.npy``, ``max_impact.npy``) live in a folder of their own, see :func:`build_impacts`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from rag.core.progress import bar

from retrievers.bm25.builder import PostingsBuilder, TermAnalyzer
from retrievers.bm25.spill import Runs, open_npy, run_postings_for

FORMAT_VERSION = 2
IMPACTS_VERSION = 2  # 2: with max_impact.npy


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
def build_postings(docs: Iterable[tuple[str, str]], analyzer: TermAnalyzer, folder: Path, identity: dict,
                   total: int | None = None, batch_size: int = 4096, compiled: bool | None = None,
                   memory_mb: int | None = None) -> int:
    """Analyse ``(docno, text)`` pairs and write the index into ``folder``; returns the document count.

    Documents go in batches of ``batch_size`` through :class:`~retrievers.bm25.builder.PostingsBuilder`
    (``compiled``: its numba tokenizer, default when installed) under a progress bar (``total``: the number
    of documents, when known). ``memory_mb``: postings beyond that much memory are spilled to disk in runs
    and merged at the end (:mod:`retrievers.bm25.spill`); the index is the same."""
    runs = Runs(folder / "runs") if memory_mb is not None else None
    builder = PostingsBuilder(analyzer, compiled=compiled, runs=runs,
                              **({"run_postings": run_postings_for(memory_mb)} if memory_mb is not None else {}))
    folder.mkdir(parents=True, exist_ok=True)
    with bar(total=total, desc="BM25 indexing", unit="doc") as update:
        iterator = iter(docs)
        while True:
            chunk = list(islice(iterator, batch_size))
            if not chunk:
                break
            builder.add([d for d, _ in chunk], [t for _, t in chunk])
            update(len(chunk))
    index = builder.finish(folder)
    lengths = index["lengths"]
    for name in ("indptr", "docs", "tf"):
        if index[name] is not None:          # else already written, from the runs on disk
            np.save(folder / f"{name}.npy", index[name])
    np.save(folder / "norms.npy", lengths_to_bytes(lengths))
    (folder / "terms.json").write_text(json.dumps(index["terms"], ensure_ascii=False), "utf-8")
    _write_json_strings(folder / "docnos.json", index["docnos"])
    _write_arrow_strings(folder / "docnos.arrow", index["docnos"])
    n_postings = int(index["indptr"][-1])
    meta = {"format": FORMAT_VERSION, "n_docs": len(index["docnos"]), "doc_count": int((lengths > 0).sum()),
            "sum_total_tf": int(lengths.sum()), "n_terms": len(index["terms"]), "n_postings": n_postings,
            "analyzer": identity}
    (folder / "meta.json").write_text(json.dumps(meta, sort_keys=True), "utf-8")
    return meta["n_docs"]


def read_npy(path: Path, start: int, stop: int) -> np.ndarray:
    """Items ``start:stop`` of a 1-d ``.npy`` file, read (not memory-mapped: the pages do not stay mapped)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = header(fh)
        fh.seek(start * dtype.itemsize, 1)
        return np.fromfile(fh, dtype=dtype, count=stop - start)


def _write_json_strings(path: Path, strings, chunk: int = 1 << 16) -> None:
    """A JSON list of an Arrow string array, written piece by piece (the bytes ``json.dumps`` gives)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[")
        for start in range(0, len(strings), chunk):
            piece = strings.slice(start, chunk).to_pylist()
            fh.write((", " if start else "") + ", ".join(json.dumps(s, ensure_ascii=False) for s in piece))
        fh.write("]")


def _write_arrow_strings(path: Path, strings) -> None:
    """The same ids as an Arrow IPC file, which a search opens memory-mapped instead of parsing the JSON."""
    import pyarrow as pa

    table = pa.table({"docno": strings.cast(pa.large_string())})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _open_arrow_strings(path: Path) -> pd.api.extensions.ExtensionArray:
    """``docnos.arrow`` as pandas strings over the memory map (no copy, no Python object per id)."""
    import pyarrow as pa
    from pandas.core.arrays.string_arrow import ArrowStringArray

    column = pa.ipc.open_file(pa.memory_map(str(path))).read_all().column("docno")
    return ArrowStringArray(column, dtype=pd.Series(["x"]).dtype)


def build_impacts(index: "PostingsIndex", k1: float, b: float, folder: Path, chunk: int = 1 << 24) -> None:
    """Per-posting BM25 scores for query-term weight 1, the per-term/per-document factors, and each term's
    largest impact (the bound dynamic pruning needs); computed ``chunk`` postings' worth of terms at a time."""
    meta = index.meta
    doc_count = meta["doc_count"]
    avgdl = np.float32(meta["sum_total_tf"] / doc_count) if doc_count else np.float32(1.0)
    k1_, b_ = np.float32(k1), np.float32(b)
    cache = np.float32(1.0) / (k1_ * ((np.float32(1.0) - b_) + b_ * LENGTH_TABLE.astype(np.float32) / avgdl))
    inv_norm = cache.astype(np.float32)[np.asarray(index.norms)]
    indptr = np.asarray(index.indptr)
    df = np.diff(indptr).astype(np.float64)
    idf = np.log(1.0 + (doc_count - df + 0.5) / (df + 0.5)).astype(np.float32)
    max_impact = np.zeros(len(idf), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    n_terms = len(idf)
    with open_npy(folder / "impacts.npy", np.float32, indptr[-1]) as out:
        start = 0
        while start < n_terms:
            end = min(max(int(np.searchsorted(indptr, indptr[start] + chunk, side="right")) - 1, start + 1), n_terms)
            lo, hi = int(indptr[start]), int(indptr[end])
            sizes = np.diff(indptr[start:end + 1])
            idf_per_posting = np.repeat(idf[start:end], sizes)
            docs, tf = read_npy(index.folder / "docs.npy", lo, hi), read_npy(index.folder / "tf.npy", lo, hi)
            impacts = (idf_per_posting - idf_per_posting / (np.float32(1.0) + tf * inv_norm[docs])).astype(np.float32)
            nonempty = np.flatnonzero(sizes > 0)
            if len(nonempty):
                max_impact[start + nonempty] = np.maximum.reduceat(impacts, (indptr[start:end] - lo)[nonempty])
            impacts.tofile(out)
            start = end
    np.save(folder / "idf.npy", idf)
    np.save(folder / "inv_norm.npy", inv_norm)
    np.save(folder / "max_impact.npy", max_impact)


# ---------------------------------------------------------------------- reading
@dataclass
class PostingsIndex:
    """The arrays of an index folder (memory-mapped unless ``mmap=False``)."""

    folder: Path
    meta: dict
    terms: dict[str, int]
    docnos: list[str] | pd.api.extensions.ExtensionArray   # memory-mapped Arrow strings when the index has them
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
        arrow = folder / "docnos.arrow"
        docnos = _open_arrow_strings(arrow) if arrow.exists() else json.loads((folder / "docnos.json").read_text("utf-8"))
        mode = "r" if mmap else None
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode=mode) for name in ("indptr", "docs", "tf", "norms")}
        return cls(folder, meta, terms, docnos, **arrays)

    @property
    def n_docs(self) -> int:
        return self.meta["n_docs"]

    @cached_property
    def docno_array(self) -> pd.api.extensions.ExtensionArray:
        """The docnos as the array pandas makes of a column of strings (``take`` builds result columns)."""
        if isinstance(self.docnos, pd.api.extensions.ExtensionArray):
            return self.docnos
        return pd.Series(self.docnos, dtype=pd.Series(["x"]).dtype).array


@dataclass
class Impacts:
    """Precomputed BM25 term impacts, idf, document-length norms and per-term largest impacts of an index
    (memory-mapped)."""

    impacts: np.ndarray
    idf: np.ndarray
    inv_norm: np.ndarray
    max_impact: np.ndarray

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True) -> "Impacts":
        folder = Path(folder)
        mode = "r" if mmap else None
        return cls(*(np.load(folder / f"{n}.npy", mmap_mode=mode)
                     for n in ("impacts", "idf", "inv_norm", "max_impact")))

    @property
    def has_zero_impacts(self) -> bool:
        """Whether some contribution can be exactly 0.0 in float (a term frequency times the document's norm
        factor below 1e-6: documents millions of times longer than average)."""
        return bool(len(self.inv_norm)) and float(np.min(self.inv_norm)) < 1e-6
