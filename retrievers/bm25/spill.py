"""The index build in bounded memory: postings spilled to disk in runs, sorted, then merged term range by
term range into the index files.

While documents are analysed, every ``run_postings`` postings (document-major ``(doc, term, tf)`` triples,
12 bytes each) go to a run file instead of staying in memory. At the end each run is read back once,
given the final numbers (documents in docno order, terms in term order), sorted by (term, document) and
written back; then the runs are merged: for each range of terms holding at most ``run_postings`` postings,
the slice of that range is read from every run (each run is sorted, so it is one contiguous read) and the
pieces sorted into the index's ``docs.npy`` and ``tf.npy``. Every posting is read twice and written twice;
memory is one run or one range at a time, plus a few bytes per document (:func:`memory_estimate`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

COLUMNS = ("docs", "terms", "tf")
BYTES_PER_POSTING = 48      # a run being sorted: the triple, new numbers, the int64 key and its argsort
BYTES_PER_DOCUMENT = 40     # docno (UTF-8 + offset), length, order and new number, norms


def run_postings_for(memory_mb: int) -> int:
    """Postings per run for a build that should stay within ``memory_mb`` MB of postings work space."""
    return max(10_000, memory_mb * 2**20 // BYTES_PER_POSTING)


def memory_estimate(memory_mb: int, n_docs: int | None) -> str:
    """What a build will hold in memory, said before it starts."""
    per_doc = f" + {n_docs * BYTES_PER_DOCUMENT / 2**20:,.0f} MB for {n_docs:,} documents" if n_docs else \
        f" + {BYTES_PER_DOCUMENT} bytes per document"
    return f"about {memory_mb:,} MB for postings{per_doc} + the vocabulary (~150 bytes per distinct term)"


class Runs:
    """Run files in a folder: ``run-N.{docs,terms,tf}`` (int32 each)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.sizes: list[int] = []

    def __len__(self) -> int:
        return len(self.sizes)

    def path(self, run: int, column: str) -> Path:
        return self.folder / f"run-{run}.{column}"

    def write(self, docs: np.ndarray, terms: np.ndarray, tf: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        run = len(self.sizes)
        for column, values in zip(COLUMNS, (docs, terms, tf)):
            values.astype(np.int32, copy=False).tofile(self.path(run, column))
        self.sizes.append(len(docs))

    def read(self, run: int, column: str, start: int = 0, count: int = -1) -> np.ndarray:
        return np.fromfile(self.path(run, column), dtype=np.int32, count=count, offset=4 * start)

    def sort(self, new_number: np.ndarray, renumber: np.ndarray, n_docs: int, n_terms: int) -> np.ndarray:
        """Give every run the final numbers and sort it by (term, document); returns each term's posting count."""
        df = np.zeros(n_terms, dtype=np.int64)
        for run in range(len(self)):
            docs = new_number[self.read(run, "docs")]
            terms = renumber[self.read(run, "terms")]
            order = np.argsort(terms.astype(np.int64) * max(n_docs, 1) + docs, kind="stable")
            del terms   # re-read below: keeps one fewer copy alive
            terms = renumber[self.read(run, "terms")][order]
            df += np.bincount(terms, minlength=n_terms)
            self.write_sorted(run, docs[order], terms, self.read(run, "tf")[order])
        return df

    def write_sorted(self, run: int, docs: np.ndarray, terms: np.ndarray, tf: np.ndarray) -> None:
        for column, values in zip(COLUMNS, (docs, terms, tf)):
            values.astype(np.int32, copy=False).tofile(self.path(run, column))

    def merge(self, indptr: np.ndarray, docs_out: BinaryIO, tf_out: BinaryIO, budget: int) -> None:
        """Write the postings of all (sorted) runs grouped by term, documents ascending, range by range."""
        n_terms = len(indptr) - 1
        start_term = 0
        while start_term < n_terms:
            # the largest range from start_term whose postings fit the budget (at least one term)
            end_term = int(np.searchsorted(indptr, indptr[start_term] + budget, side="right")) - 1
            end_term = min(max(end_term, start_term + 1), n_terms)
            pieces = []
            for run in range(len(self)):
                lo, hi = self._bisect(run, start_term), self._bisect(run, end_term)
                if hi > lo:
                    pieces.append((self.read(run, "terms", lo, hi - lo), self.read(run, "docs", lo, hi - lo),
                                   self.read(run, "tf", lo, hi - lo)))
            if pieces:
                terms = np.concatenate([p[0] for p in pieces])
                docs = np.concatenate([p[1] for p in pieces])
                tf = np.concatenate([p[2] for p in pieces])
                order = np.lexsort((docs, terms))
                docs[order].astype(np.int32).tofile(docs_out)
                tf[order].astype(np.float32).tofile(tf_out)
            start_term = end_term

    def _bisect(self, run: int, term: int) -> int:
        """The first position of a sorted run whose term is >= ``term``, by binary search with reads of 4
        bytes (not a memory map: its touched pages would stay in this process's resident memory)."""
        lo, hi = 0, self.sizes[run]
        with open(self.path(run, "terms"), "rb") as fh:
            fd = fh.fileno()
            while lo < hi:
                mid = (lo + hi) // 2
                if int.from_bytes(os.pread(fd, 4, 4 * mid), "little", signed=True) < term:
                    lo = mid + 1
                else:
                    hi = mid
        return lo

    def remove(self) -> None:
        for run in range(len(self)):
            for column in COLUMNS:
                self.path(run, column).unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass


def open_npy(path: Path, dtype: np.dtype | type, length: int) -> BinaryIO:
    """A ``.npy`` file of a 1-d array of ``length`` items, opened for the items to be appended in order."""
    fh = open(path, "wb")
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                              "fortran_order": False, "shape": (int(length),)})
    return fh
