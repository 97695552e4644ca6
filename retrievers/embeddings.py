"""Document vectors on disk: the cached embeddings folder, and encoding a corpus into it as a stream that resumes.

A folder holds ``embeddings.npy`` (float32 rows, memory-mapped by readers: a plain ``.npy`` any tool can load),
``docnos.txt`` (the id of each row, one per line), ``docnos.offsets.npy`` (where each line starts) and
``meta.json``.

:func:`encode_documents` never holds the corpus nor every vector: it reads the documents once for their ids,
then again in shards of ``shard_size`` documents, each shard encoded (in this process, or as a Ray task through
:func:`rag.core.executor.encode_stream`) and written at its place in one ``.npy`` file as it finishes. The work
lives in ``<cache>/<kind>-parts/<key>-<shard_size>/`` with one marker per finished shard, so a run that was killed
or interrupted resumes where it stopped: the next run encodes only the shards without a marker. When every
shard is there the files are published atomically as the cache artefact ``<kind>/<key>`` (first writer wins);
one writer per key works at a time (a lock on the parts folder).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from rag.core.atomic import complete
from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.executor import Executor, encode_stream
from rag.core.progress import progress
from retrievers.docids import Docids, line_offsets, write_ids

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per key is then up to the user
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

EMBEDDINGS, DOCNOS, OFFSETS, META = "embeddings.npy", "docnos.txt", "docnos.offsets.npy", "meta.json"
Doc = dict[str, str]


@dataclass
class StoredVectors:
    """A matrix of document vectors on disk (memory-mapped) and the ids of its rows."""

    vectors: np.ndarray
    docids: Docids
    path: Path          # the .npy file
    identity: str       # what the vectors are (the cache key they were stored under, or the files' identity)


def read_embeddings(folder: Path, identity: str | None = None) -> StoredVectors:
    """The embeddings folder ``folder`` (memory-mapped, read-only)."""
    folder = Path(folder)
    vectors = np.load(folder / EMBEDDINGS, mmap_mode="r")
    docids = Docids.open(folder / DOCNOS, folder / OFFSETS)
    if len(docids) != vectors.shape[0]:
        raise InputError(f"{len(docids)} ids for {vectors.shape[0]} embeddings: the folder is damaged", path=folder)
    return StoredVectors(vectors, docids, folder / EMBEDDINGS, identity or folder.name)


def write_embeddings(folder: Path, docnos: Iterable[str], vectors: np.ndarray, meta: dict[str, Any]) -> None:
    """Write vectors held in memory as an embeddings folder (small sets; a corpus goes through
    :func:`encode_documents`)."""
    folder = Path(folder)
    np.save(folder / EMBEDDINGS, np.ascontiguousarray(vectors, dtype=np.float32))
    write_ids(folder / DOCNOS, docnos)
    np.save(folder / OFFSETS, line_offsets(folder / DOCNOS))
    (folder / META).write_text(json.dumps(meta, sort_keys=True, indent=1), encoding="utf-8")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process is encoding %s: waiting for it", path.parent.name)
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def encode_documents(docs: Callable[[], Iterable[Doc]], text_of: Callable[[Doc], str],
                     encode: Callable[[list[str]], np.ndarray], dimension: Callable[[], int], key: str,
                     kind: str = "dense-embeddings", shard_size: int = 8192, executor: Executor = "local",
                     meta: dict[str, Any] | None = None, cache: Cache | None = None) -> Path:
    """The embeddings folder of ``docs`` (built as described in the module, unless the cache has it).

    ``docs()`` gives a fresh iterator of ``{"docno", "title", "text"}``; ``text_of`` the text to encode of one;
    ``encode`` float32 rows for a list of texts (picklable for Ray); ``dimension()`` their length.
    """
    cache = cache or Cache.active() or Cache()
    final = cache.root / kind / key
    if complete(final):
        return final
    cache.check_location()
    parts = cache.root / f"{kind}-parts" / f"{key}-{shard_size}"
    parts.mkdir(parents=True, exist_ok=True)
    with _locked(parts / ".lock"):
        if complete(final):
            return final
        count = _write_ids(docs, parts)
        dim = int(dimension())
        offset = _open_matrix(parts / EMBEDDINGS, count, dim)
        done_dir = parts / "done"
        done_dir.mkdir(exist_ok=True)
        done = {int(p.name) for p in done_dir.iterdir() if p.name.isdigit()}
        shards = -(-count // shard_size)
        missing = shards - len(done & set(range(shards)))
        if done:
            log.info("resuming: %d of %d shards of %d documents were encoded before", shards - missing, shards,
                     shard_size)
        pieces = _pieces(docs, text_of, shard_size, done)
        fd = os.open(parts / EMBEDDINGS, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            for i, vectors in progress(encode_stream(encode, pieces, executor, total=missing), total=missing,
                                       desc="encoding corpus", unit="shard"):
                start, stop = i * shard_size, min(count, (i + 1) * shard_size)
                if vectors.shape != (stop - start, dim):
                    raise InputError(f"the encoder gave {vectors.shape} vectors for shard {i} of {stop - start} "
                                     f"texts of dimension {dim}")
                data = np.ascontiguousarray(vectors, dtype="<f4").tobytes()   # written, not mapped: memory stays flat
                if os.pwrite(fd, data, offset + start * dim * 4) != len(data):
                    raise OSError(f"short write of shard {i} to {parts / EMBEDDINGS}")
                os.fsync(fd)
                (done_dir / f"{i:08d}").touch()
        finally:
            os.close(fd)

        def publish(tmp: Path) -> None:
            _link_or_copy(parts / EMBEDDINGS, tmp / EMBEDDINGS)
            _link_or_copy(parts / DOCNOS, tmp / DOCNOS)
            np.save(tmp / OFFSETS, line_offsets(tmp / DOCNOS))
            (tmp / META).write_text(json.dumps({**(meta or {}), "docs": count, "dim": int(dimension()),
                                                "shard_size": shard_size}, sort_keys=True, indent=1), encoding="utf-8")
        folder = cache.artifact(kind, key, publish)
    for left in parts.parent.glob(f"{key}-*"):    # this run's work, and any left by a run with another shard size
        shutil.rmtree(left, ignore_errors=True)
    return folder


def _write_ids(docs: Callable[[], Iterable[Doc]], parts: Path) -> int:
    """Read the documents once for their ids (``parts/docnos.txt``, kept across resumed runs); their count."""
    counted = parts / "count.json"
    if counted.is_file() and (parts / DOCNOS).is_file():
        return int(json.loads(counted.read_text("utf-8"))["docs"])
    partial = parts / f"{DOCNOS}.partial"
    count = write_ids(partial, (str(d["docno"]) for d in docs()))
    os.replace(partial, parts / DOCNOS)
    counted.write_text(json.dumps({"docs": count}), encoding="utf-8")
    return count


def _open_matrix(path: Path, count: int, dim: int) -> int:
    """Create the ``.npy`` of the vectors (a sparse file of the final size) unless a killed run left one of this
    shape; the offset of its data."""
    if path.is_file():
        matrix = np.load(path, mmap_mode="r")
        if matrix.shape == (count, dim) and matrix.dtype == np.dtype("<f4"):
            return int(matrix.offset)
        del matrix
        shutil.rmtree(path.parent / "done", ignore_errors=True)
    matrix = np.lib.format.open_memmap(path, mode="w+", dtype="<f4", shape=(count, dim))
    offset = int(matrix.offset)
    del matrix
    return offset


def _pieces(docs: Callable[[], Iterable[Doc]], text_of: Callable[[Doc], str], shard_size: int,
            done: set[int]) -> Iterator[tuple[int, list[str]]]:
    """``(shard number, texts)`` of every shard not in ``done``, streamed from ``docs()`` (done shards are read
    past without building their texts)."""
    texts: list[str] = []
    shard, filled = 0, 0
    for doc in docs():
        if shard not in done:
            texts.append(text_of(doc))
        filled += 1
        if filled == shard_size:
            if shard not in done:
                yield shard, texts
            texts, shard, filled = [], shard + 1, 0
    if filled and shard not in done:
        yield shard, texts
