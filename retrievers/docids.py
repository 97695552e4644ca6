"""The document ids of a vector matrix's rows, one per line of a text file, read through a memory map: memory for
the line offsets only (8 bytes per id), never a Python list of every id.

>>> ids = Docids.open(folder / "docnos.txt")     # doctest: +SKIP
>>> ids.take([3, 0])                             # doctest: +SKIP
['d3', 'd0']
"""
from __future__ import annotations

import hashlib
import json
import mmap
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from rag.core.errors import InputError

ID_FIELDS = ("id", "_id", "docid", "docno", "doc_id")   # FlashRAG, BEIR, Pyserini, ragif
BLOCK = 1 << 24


def line_offsets(path: Path) -> np.ndarray:
    """Start offsets of every line of ``path`` and the file's length (``n + 1`` int64 values); a last line without
    a newline counts, an empty file has no lines."""
    size = path.stat().st_size
    ends = []
    with open(path, "rb") as handle:
        position = 0
        while block := handle.read(BLOCK):
            ends.append(np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + position + 1)
            position += len(block)
    found = np.concatenate(ends) if ends else np.zeros(0, np.int64)
    if size and (not len(found) or found[-1] != size):
        found = np.append(found, size)
    return np.concatenate([[0], found]).astype(np.int64)


class Docids:
    """Ids by row number from a text file of one id per line (``\\r`` and surrounding blanks removed)."""

    def __init__(self, path: Path, offsets: np.ndarray):
        self.path = Path(path)
        self.offsets = offsets
        self._map: mmap.mmap | None = None
        self._index: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def open(cls, path: str | Path, offsets: str | Path | None = None) -> "Docids":
        """``path``'s ids; ``offsets``: a saved :func:`line_offsets` array (memory-mapped) instead of a scan."""
        path = Path(path)
        if not path.is_file():
            raise InputError("the docid file does not exist", path=path, field="docids")
        if offsets is not None and Path(offsets).is_file():
            return cls(path, np.load(offsets, mmap_mode="r"))
        return cls(path, line_offsets(path))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_map": None, "_index": None}

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _bytes(self) -> mmap.mmap | bytes:
        if self._map is None:
            if self.offsets[-1] == 0:
                return b""
            with open(self.path, "rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map

    def __getitem__(self, row: int) -> str:
        if not -len(self) <= row < len(self):
            raise IndexError(row)
        row = row % len(self)
        data = self._bytes()
        return data[int(self.offsets[row]):int(self.offsets[row + 1])].decode("utf-8").strip()

    def take(self, rows: Iterable[int]) -> list[str]:
        return [self[int(r)] for r in rows]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def check(self) -> None:
        """Every line holds an id (an empty line would shift every later row)."""
        for row in np.flatnonzero(np.diff(self.offsets) <= 2):
            if not self[int(row)]:
                raise InputError(f"line {row + 1} has no document id (each line is the id of one row)",
                                 path=self.path, line=int(row) + 1, field="docids")

    def rows_of(self, docnos: Sequence[str]) -> np.ndarray:
        """The row of each of ``docnos`` (-1 when absent), by a sorted table of 8-byte id hashes built on first use."""
        if self._index is None:
            hashes = np.fromiter((_hash(d) for d in self), dtype=np.uint64, count=len(self))
            order = np.argsort(hashes, kind="stable")
            self._index = (hashes[order], order)
        hashes, order = self._index
        out = np.full(len(docnos), -1, dtype=np.int64)
        for i, docno in enumerate(docnos):
            h = _hash(str(docno))
            at = int(np.searchsorted(hashes, h))
            while at < len(hashes) and hashes[at] == h:
                if self[int(order[at])] == str(docno):
                    out[i] = order[at]
                    break
                at += 1
        return out


def _hash(text: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little"))


def write_ids(path: Path, ids: Iterable[str]) -> int:
    """Write ``ids`` one per line (an id with a line break or blank is refused); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for docno in ids:
            if not docno or docno != docno.strip() or "\n" in docno or "\r" in docno:
                raise InputError(f"document id {docno!r} cannot be stored one per line (blank or line break)",
                                 field="docno")
            out.write(docno + "\n")
            count += 1
    return count


def jsonl_ids(path: Path) -> Callable[[], Iterable[str]]:
    """The ids of a JSONL corpus, line by line (FlashRAG's row order: row i of its FAISS index is line i): the
    first of ``id``, ``_id``, ``docid``, ``docno``, ``doc_id`` in each line; blank lines are skipped."""
    def ids() -> Iterable[str]:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError as exc:
                    raise InputError(f"not a JSON object: {exc}", path=path, line=number) from None
                field = next((f for f in ID_FIELDS if isinstance(record, dict) and f in record), None)
                if field is None:
                    raise InputError(f"no id field (one of {list(ID_FIELDS)})", path=path, line=number, field="id")
                yield str(record[field]).strip()
    return ids
