"""Passage text by id without holding the corpus: the docstores behind :meth:`Corpus.documents`.

A docstore answers ``fetch(docnos) -> (titles, texts)`` in the order asked (an unknown id is an
:class:`InputError`). Kinds:

- :class:`DiskDocStore`: what ragif builds once per corpus content (into the cache) from any streamed
  corpus (JSONL, TSV, Parquet, TREC, gzipped or not). Files: ``docs.bin`` (one record per passage: id,
  title and text as UTF-8 behind two lengths), ``offsets.bin`` (where each record starts), ``hashes.bin``
  (the 64-bit hashes of the ids, sorted), ``rows.bin`` (the record of each hash) and ``sample.bin`` (every
  512th hash). A lookup finds the hash's block through the sample (kept in memory: 16 bytes per thousand
  passages), then reads the block, the row, the offsets and the record with ``pread``: nothing is
  memory-mapped, so the process's memory stays the same whatever the corpus size. Chosen by measurement
  against byte offsets into the source file, SQLite and a memory-mapped Arrow file
  (``experiments/bench_docstore.py``; README "Large corpora"). Building it also checks the ids: a
  duplicate is an error naming both documents (sorted hashes, not a set of every id).
- :class:`MemoryDocStore`: a corpus that is already in memory (a list or DataFrame).
- :mod:`rag.datasets.lucene_index` (a Lucene index's stored documents) and :mod:`rag.datasets.irds`
  (ir_datasets' ``docs_store()``) have their own.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Protocol, Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.core.progress import progress

Doc = dict[str, str]   # one document: docno, title, text

FORMAT_VERSION = 1
BLOCK = 512               # hashes per block of hashes.bin (4 KiB); one sample per block stays in memory
PROBE = "ragif-docstore"  # its hash is recorded, so that a store is never read with another hash function
_HEADER = struct.Struct("<II")   # byte lengths of the id and the title; the text is the rest of the record
_OFFSETS = struct.Struct("<QQ")


class DocStore(Protocol):
    """Titles and texts by document id."""

    def fetch(self, docnos: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(titles, texts)`` of ``docnos``, in that order; an unknown id is an :class:`InputError`."""
        ...

    def known(self, docnos: Sequence[str]) -> np.ndarray:
        """Whether each id is in the store (booleans)."""
        ...

    def __len__(self) -> int: ...


def id_hashes(docnos: Sequence[str] | np.ndarray) -> np.ndarray:
    """64-bit hashes of document ids (pandas' SipHash of the UTF-8 bytes, vectorised)."""
    values = docnos if isinstance(docnos, np.ndarray) else np.asarray(list(docnos), dtype=object)
    return pd.util.hash_array(values, categorize=False).view(np.uint64)


def hash_probe() -> int:
    """The hash of :data:`PROBE` (recorded in every store)."""
    return int(id_hashes([PROBE])[0])


def unknown(docno: str, source: str | None) -> InputError:
    return InputError(f"document id {docno!r} is not in the corpus", path=source, field="docno")


class LookupDocStore:
    """A docstore over a store that looks ids up in batches (ir_datasets' ``docs_store``, a Lucene index):
    subclasses give :meth:`lookup` (the found ids' stored values) and :meth:`title_and_text` (one value's)."""

    source: str | None = None

    def lookup(self, docnos: list[str]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def title_and_text(self, value: Any) -> tuple[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fetch(self, docnos: Sequence[str]) -> tuple[list[str], list[str]]:
        docnos = [str(d) for d in docnos]
        found = self.lookup(list(dict.fromkeys(docnos)))
        titles, texts = [], []
        for d in docnos:
            if d not in found:
                raise unknown(d, self.source)
            title, text = self.title_and_text(found[d])
            titles.append(title)
            texts.append(text)
        return titles, texts

    def known(self, docnos: Sequence[str]) -> np.ndarray:
        found = self.lookup([str(d) for d in docnos])
        return np.array([str(d) in found for d in docnos], dtype=bool)


class DuplicateId(InputError):
    """Documents number ``first`` and ``second`` (1-based, in corpus order) have the same id."""

    def __init__(self, docno: str, first: int, second: int, source: str | None = None):
        super().__init__(f"duplicate document id {docno!r} (documents number {first} and {second})", path=source,
                         field="docno")
        self.first, self.second = first, second


class IdCheck:
    """Finds duplicate ids among a stream of ids from 8-byte hashes (sorted once at the end), not a set of
    every id: :meth:`duplicates` gives the pairs of positions whose hashes are equal, for the caller to
    compare (a pair of different ids with one hash is astronomically rare, but possible)."""

    def __init__(self, chunk: int = 65_536):
        self._chunk = chunk
        self._pending: list[str] = []
        self._hashes: list[np.ndarray] = []

    def add(self, docno: str) -> None:
        self._pending.append(docno)
        if len(self._pending) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._hashes.append(id_hashes(np.asarray(self._pending, dtype=object)))
            self._pending = []

    def duplicates(self) -> list[tuple[int, int]]:
        """``(first, second)`` positions (1-based, first < second) of ids with equal hashes."""
        self._flush()
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, np.uint64)
        self._hashes = []
        order = np.argsort(hashes, kind="stable")
        return equal_neighbours(hashes[order], order)


def equal_neighbours(ranked: np.ndarray, order: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of 1-based positions with equal hashes (``ranked``: the hashes sorted, ``order``: their
    positions)."""
    pairs = []
    for i in np.flatnonzero(ranked[1:] == ranked[:-1]).tolist():
        first, second = sorted((int(order[i]), int(order[i + 1])))
        pairs.append((first + 1, second + 1))
    return pairs


def documents_frame(store: DocStore, docnos: Sequence[str]) -> pd.DataFrame:
    """``docno, title, text`` rows of ``docnos`` from ``store``, in that order."""
    docnos = [str(d) for d in docnos]
    titles, texts = store.fetch(docnos)
    return pd.DataFrame({"docno": docnos, "title": titles, "text": texts}, columns=["docno", "title", "text"])


# ---------------------------------------------------------------------- in memory
class MemoryDocStore:
    """The documents of an in-memory corpus, by id (``docs``: checked ``{"docno", "title", "text"}`` dicts)."""

    def __init__(self, docs: Iterable["Doc"], source: str | None = None):
        self.source = source
        self._titles: list[str] = []
        self._texts: list[str] = []
        self._rows: dict[str, int] = {}
        for doc in docs:
            self._rows[doc["docno"]] = len(self._titles)
            self._titles.append(doc["title"])
            self._texts.append(doc["text"])

    def __len__(self) -> int:
        return len(self._titles)

    def fetch(self, docnos: Sequence[str]) -> tuple[list[str], list[str]]:
        rows = []
        for d in docnos:
            row = self._rows.get(d)
            if row is None:
                raise unknown(d, self.source)
            rows.append(row)
        return [self._titles[r] for r in rows], [self._texts[r] for r in rows]

    def known(self, docnos: Sequence[str]) -> np.ndarray:
        return np.fromiter((str(d) in self._rows for d in docnos), dtype=bool, count=len(docnos))


# ---------------------------------------------------------------------- on disk
class DiskDocStore:
    """A docstore folder written by :meth:`build` (see the module's docstring for its files)."""

    def __init__(self, folder: str | Path, source: str | None = None):
        self.folder = Path(folder)
        self.source = source
        self.meta = json.loads((self.folder / "meta.json").read_text("utf-8"))
        if self.meta.get("format") != FORMAT_VERSION or self.meta.get("hash_probe") != hash_probe():
            raise InputError("docstore was written by another version of ragif; delete it to rebuild",
                             path=self.folder)
        self._n = int(self.meta["n_docs"])
        self._fds = {name: os.open(self.folder / f"{name}.bin", os.O_RDONLY)
                     for name in ("docs", "offsets", "hashes", "rows")}
        self._row_type = np.dtype(self.meta["row_type"])
        self._sample = np.fromfile(self.folder / "sample.bin", dtype=np.uint64)

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            try:
                os.close(fd)
            except OSError:
                pass

    def __getstate__(self) -> dict:   # file descriptors do not travel to another process
        return {"folder": self.folder, "source": self.source}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["folder"], state["source"])

    def __len__(self) -> int:
        return self._n

    def _read(self, name: str, dtype: np.dtype | type, start: int, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        return np.frombuffer(os.pread(self._fds[name], size * count, size * start), dtype=dtype)

    def _positions(self, hashes: np.ndarray) -> np.ndarray:
        """Where each hash first appears in the sorted hashes (-1 when absent): its block from the sample,
        then the block (and the one before, as equal hashes may straddle a boundary) read once per block."""
        out = np.full(len(hashes), -1, dtype=np.int64)
        # the block before the first sample >= the hash: the hash's first position lies in it or at its end
        blocks = np.maximum(np.searchsorted(self._sample, hashes, side="left") - 1, 0)
        for block in np.unique(blocks).tolist():
            mine = np.flatnonzero(blocks == block)
            start = block * BLOCK
            stored = self._read("hashes", np.uint64, start, min(BLOCK + 1, self._n - start))
            at = np.searchsorted(stored, hashes[mine])
            hit = at < len(stored)
            hit[hit] = stored[at[hit]] == hashes[mine][hit]
            out[mine[hit]] = start + at[hit]
        return out

    def _record(self, row: int) -> tuple[str, str, str]:
        begin, end = _OFFSETS.unpack(os.pread(self._fds["offsets"], 16, 8 * row))
        raw = os.pread(self._fds["docs"], end - begin, begin)
        id_len, title_len = _HEADER.unpack_from(raw)
        head = _HEADER.size
        return (raw[head:head + id_len].decode("utf-8"), raw[head + id_len:head + id_len + title_len].decode("utf-8"),
                raw[head + id_len + title_len:].decode("utf-8"))

    def _row(self, pos: int) -> int:
        size = self._row_type.itemsize
        return int.from_bytes(os.pread(self._fds["rows"], size, size * pos), "little")

    def _locate(self, docnos: list[str]) -> list[tuple[int, tuple[str, str, str]] | None]:
        """``(row, record)`` of each id, None for an id that is not there."""
        hashes = id_hashes(docnos) if docnos else np.zeros(0, np.uint64)
        positions = self._positions(hashes).tolist()
        rows = [self._row(p) if p >= 0 else -1 for p in positions]
        out: list[tuple[int, tuple[str, str, str]] | None] = [None] * len(docnos)
        for i in np.argsort(rows, kind="stable").tolist():   # records in file order
            pos, row = positions[i], rows[i]
            while pos >= 0:
                record = self._record(row)
                if record[0] == docnos[i]:
                    out[i] = (row, record)
                    break
                pos += 1   # another id with the same hash (astronomically rare): the next with that hash
                if pos >= self._n or int(self._read("hashes", np.uint64, pos, 1)[0]) != int(hashes[i]):
                    break
                row = self._row(pos)
        return out

    def fetch(self, docnos: Sequence[str]) -> tuple[list[str], list[str]]:
        docnos = [str(d) for d in docnos]
        found = self._locate(docnos)
        for docno, hit in zip(docnos, found):
            if hit is None:
                raise unknown(docno, self.source)
        return [hit[1][1] for hit in found], [hit[1][2] for hit in found]  # type: ignore[index]

    def known(self, docnos: Sequence[str]) -> np.ndarray:
        return np.array([hit is not None for hit in self._locate([str(d) for d in docnos])], dtype=bool)

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, docs: Iterable["Doc"], folder: str | Path, total: int | None = None,
              source: str | None = None) -> int:
        """Write the store of ``docs`` (checked ``{"docno", "title", "text"}`` dicts, streamed) into
        ``folder``; returns the number of documents. A duplicate id is an :class:`InputError`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        hashes: list[np.ndarray] = []
        ids: list[str] = []
        position, n = 0, 0
        with open(folder / "docs.bin", "wb", buffering=1 << 20) as blob, \
                open(folder / "offsets.bin", "wb", buffering=1 << 20) as offsets:
            starts: list[int] = []
            for doc in progress(iter(docs), total=total, desc="docstore", unit="doc"):
                docno, title, text = (_utf8(doc, key, source) for key in ("docno", "title", "text"))
                record = b"".join((_HEADER.pack(len(docno), len(title)), docno, title, text))
                blob.write(record)
                starts.append(position)
                position += len(record)
                ids.append(doc["docno"])
                if len(ids) == 65_536:
                    n += _flush(ids, starts, hashes, offsets)
            n += _flush(ids, starts, hashes, offsets)
            offsets.write(np.uint64(position).tobytes())
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        del hashes
        order = np.argsort(all_hashes, kind="stable")
        all_hashes = all_hashes[order]
        row_type = np.dtype(np.uint32 if n < 2**32 else np.uint64)
        (folder / "hashes.bin").write_bytes(all_hashes.tobytes())
        (folder / "sample.bin").write_bytes(all_hashes[::BLOCK].tobytes())
        (folder / "rows.bin").write_bytes(order.astype(row_type).tobytes())
        meta = {"format": FORMAT_VERSION, "n_docs": n, "hash_probe": hash_probe(), "row_type": row_type.str}
        (folder / "meta.json").write_text(json.dumps(meta), "utf-8")
        store = cls(folder, source)
        for first, second in equal_neighbours(all_hashes, order):   # the only possible duplicates
            docno = store._record(first - 1)[0]
            if docno == store._record(second - 1)[0]:
                raise DuplicateId(docno, first, second, source)
        return n


def _utf8(doc: "Doc", key: str, source: str | None) -> bytes:
    try:
        return doc[key].encode("utf-8")
    except UnicodeEncodeError as exc:   # a lone surrogate from a JSON escape
        raise InputError(f"document {doc['docno']!r}: its {key} cannot be stored as UTF-8 ({exc.reason})",
                         path=source, field=key) from None


def _flush(ids: list[str], starts: list[int], hashes: list[np.ndarray], offsets: BinaryIO) -> int:
    n = len(ids)
    if n:
        hashes.append(id_hashes(np.asarray(ids, dtype=object)))
        offsets.write(np.asarray(starts, dtype=np.uint64).tobytes())
        ids.clear()
        starts.clear()
    return n


