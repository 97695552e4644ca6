"""Document vectors made elsewhere, searched as they are: no corpus is read, nothing is re-encoded.

Layouts (``DenseRetriever(vectors=..., docids=...)``):

- a ``.npy`` matrix (memory-mapped; float32, float16 or float64 rows) with ``docids``;
- a FAISS index file (e.g. FlashRAG's ``e5_Flat.index``) with ``docids``;
- a Pyserini dense index folder: ``index`` (FAISS) and ``docid`` (one id per line), ``docids`` not needed;
- a ragif embeddings folder (``embeddings.npy`` and ``docnos.txt``).

``docids`` is a text file of one id per line (row order) or a JSONL corpus whose line *i* is row *i* (FlashRAG's
layout; the id is the line's ``id``, ``_id``, ``docid`` or ``docno``; its ids are extracted once into the cache).
The identity of the inputs (part of every cache key that depends on them) is a content hash of the files,
memoised by path, size, modification time and inode, so only a changed file is read again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.hashing import hash_config, hash_file
from retrievers.docids import Docids, jsonl_ids, line_offsets, write_ids
from retrievers.embeddings import DOCNOS, EMBEDDINGS, OFFSETS

log = logging.getLogger(__name__)

NPY_MAGIC = b"\x93NUMPY"
_MEMO: dict[tuple[str, int, int, int], str] = {}


def file_identity(path: Path) -> str:
    """A content hash of ``path``, computed once per (path, size, mtime, inode) and kept in the active cache."""
    stat = Path(path).stat()
    where = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if where in _MEMO:
        return _MEMO[where]
    cache = Cache.active() or Cache()
    key = hash_config("file-identity", *where)
    record = cache.get_json(key)
    if not isinstance(record, dict) or "hash" not in record:
        if stat.st_size > 1 << 30:
            log.info("hashing %s (%.1f GB) once; later runs only look at its size and time", path, stat.st_size / 2**30)
        record = {"hash": hash_file(path), "size": stat.st_size}
        cache.put_json(key, record)
    _MEMO[where] = record["hash"]
    return record["hash"]


@dataclass
class Precomputed:
    """Given vectors: a memory-mapped matrix or a FAISS index file, and the ids of their rows."""

    source: Path               # the matrix or index file
    docid_source: Path         # the docid text file or JSONL
    kind: str                  # "npy" or "faiss"

    def identity(self) -> str:
        return hash_config("precomputed-vectors", self.kind, file_identity(self.source), file_identity(self.docid_source))

    def matrix(self) -> np.ndarray:
        vectors = np.load(self.source, mmap_mode="r")
        if vectors.ndim != 2 or vectors.dtype not in (np.float32, np.float16, np.float64):
            raise InputError(f"precomputed vectors must be a 2-D float matrix, got shape {vectors.shape} of "
                             f"{vectors.dtype}", path=self.source, field="vectors")
        return vectors

    def docids(self) -> Docids:
        """The row ids (a JSONL corpus's ids are extracted into the cache once); checked against the row count."""
        if self.docid_source.suffix.lower() in (".jsonl", ".json") or _first_char(self.docid_source) == "{":
            ids = _jsonl_docids(self.docid_source, file_identity(self.docid_source))
        else:
            ids = Docids.open(self.docid_source)
            ids.check()
        return ids


def open_precomputed(vectors: str | Path, docids: str | Path | None) -> Precomputed:
    """Which layout ``vectors`` (+ ``docids``) is, checked without reading the vectors (one clear error if none)."""
    path = Path(vectors).expanduser()
    if path.is_dir():
        if (path / "index").is_file() and (path / "docid").is_file():      # Pyserini
            return Precomputed(path / "index", Path(docids).expanduser() if docids else path / "docid", "faiss")
        if (path / EMBEDDINGS).is_file() and (path / DOCNOS).is_file():    # ragif
            return Precomputed(path / EMBEDDINGS, Path(docids).expanduser() if docids else path / DOCNOS, "npy")
        raise InputError("not a Pyserini dense index folder (index + docid) nor a ragif embeddings folder "
                         f"({EMBEDDINGS} + {DOCNOS})", path=path, field="vectors")
    if not path.is_file():
        raise InputError("the precomputed vectors do not exist", path=path, field="vectors")
    if docids is None:
        raise InputError("precomputed vectors need docids: a file with the id of each row, one per line, or the "
                         "corpus JSONL whose line i is row i (FlashRAG)", path=path, field="docids")
    docid_path = Path(docids).expanduser()
    if not docid_path.is_file():
        raise InputError("the docid file does not exist", path=docid_path, field="docids")
    with open(path, "rb") as handle:
        kind = "npy" if handle.read(len(NPY_MAGIC)) == NPY_MAGIC else "faiss"
    return Precomputed(path, docid_path, kind)


def _first_char(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(64).lstrip()[:1].decode("ascii", "replace")


def _jsonl_docids(path: Path, identity: str) -> Docids:
    def extract(tmp: Path) -> None:
        write_ids(tmp / DOCNOS, jsonl_ids(path)())
        np.save(tmp / OFFSETS, line_offsets(tmp / DOCNOS))
    folder = (Cache.active() or Cache()).artifact("dense-docids", hash_config("jsonl-ids", identity), extract)
    return Docids.open(folder / DOCNOS, folder / OFFSETS)


def check_rows(ids: Docids, rows: int, source: Path, docid_source: Path) -> None:
    if len(ids) != rows:
        raise InputError(f"{len(ids)} document ids in {docid_source} for {rows} vectors in {source.name}: each row "
                         f"needs exactly one id", path=source, field="docids")

