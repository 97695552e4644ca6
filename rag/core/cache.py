"""Content-addressed on-disk cache: stage outputs (tables), JSON records and built artefacts (folders).

Many writers may share one cache folder (concurrent ``ragif run`` processes, Ray workers on several nodes
over a shared file system). Publishing is atomic and first-writer-wins: an entry appears under its final
name complete or not at all, and a finished entry is never deleted or replaced by another writer.

- Tables: the data file is named by its SHA-256 (so two writers of one key write identical bytes or
  different files); the record that makes it valid is published without replacing an existing one. The
  table's content fingerprint is stored with it, so a table read back is not hashed again.
- Records (LLM replies, per-query notes): many small JSON values in one SQLite file, written in batches
  (:mod:`rag.core.records`; one file per record on a network file system).
- Artefacts: built in a private temporary folder, then renamed into place; a writer that finishes second
  keeps the first writer's folder and discards its own. Each temporary folder has an owner file locked
  (``flock``) by its live writer; a later run removes the folders whose writer died (``kill -9``) and
  never one whose writer still holds its lock.
- Files are created with mode 0666 minus the umask (as ``open`` does), folders with 0777 minus the umask.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from rag.core.atomic import (COMPLETE, atomic_write_bytes, atomic_write_text, build_folder, complete, publish_folder,
                     remove_orphans, write_new_file)
from rag.core.errors import ConfigError
from rag.core.hashing import hash_frame, remember_hash
from rag.core.record_files import FileRecords
from rag.core.records import RecordStoreError, SQLiteRecords, open_records
from rag.core.table_bytes import read_table_bytes, table_bytes

__all__ = ["Cache", "CacheLocationError", "RecordStoreError", "atomic_write_bytes", "atomic_write_text",
           "default_cache_root", "location_problem", "EVALUATIONS", "LLM_REPLIES", "RECORDS", "STAGE_OUTPUTS",
           "TABLES"]

log = logging.getLogger(__name__)

CACHE_ENV = "RAGIF_CACHE"
# what the cache counts (the ``kind=`` of reads and writes; plural nouns, as the summary line says them)
STAGE_OUTPUTS, EVALUATIONS, LLM_REPLIES = "stage outputs", "evaluations", "LLM replies"
TABLES, RECORDS = "tables", "records"
_SINGULAR = {STAGE_OUTPUTS: "stage output", EVALUATIONS: "evaluation", LLM_REPLIES: "LLM reply", TABLES: "table",
             RECORDS: "record"}
_NEW = {LLM_REPLIES: "new"}  # the word for entries this run made (default: computed)
_ACTIVE: contextvars.ContextVar["Cache | None"] = contextvars.ContextVar("ragif_cache", default=None)


class CacheLocationError(ConfigError):
    """The cache folder cannot be used (a file, not writable); the message names where it was set."""


def default_cache_root() -> Path:
    """``$RAGIF_CACHE`` if set, else ``~/.cache/ragif``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "ragif"


def location_problem(root: Path) -> str | None:
    """Why ``root`` cannot serve as a cache folder (``"is a file, not a folder"``, ...), or None if it can.

    Creates nothing: a missing folder is fine when its nearest existing ancestor is a writable folder."""
    root = Path(root)
    probe = root
    try:
        while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
            probe = probe.parent
        if probe.is_symlink() and not probe.exists():
            return f"is a dangling link ({probe} -> {os.readlink(probe)})"
        is_folder = probe.is_dir()
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or exc})"
    if not is_folder:
        return "is a file, not a folder" if probe == root else f"lies under {probe}, which is a file"
    if not os.access(probe, os.W_OK | os.X_OK):
        return "is not writable" if probe == root else f"cannot be created: {probe} is not writable"
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------- the cache
class Cache:
    """A folder of content-addressed entries.

    ``records``: where small records go: ``"sqlite"``, ``"files"`` (one file each) or ``"auto"`` (the default,
    also ``$RAGIF_CACHE_RECORDS``: SQLite on a local disk, files on a network file system).
    Reads and writes name a ``kind`` (:data:`STAGE_OUTPUTS`, :data:`LLM_REPLIES`, ...; None: not counted) that
    :meth:`summary` reports.

    >>> cache = Cache("/tmp/ragif-cache")            # doctest: +SKIP
    >>> frame = cache.get_frame(key)                  # doctest: +SKIP
    >>> replies = cache.get_many(keys, kind=LLM_REPLIES)   # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None, records: str | None = None):
        self.from_env = root is None and bool(os.environ.get(CACHE_ENV))
        self.root = Path(root) if root is not None else default_cache_root()
        self.hits = 0
        self.misses = 0
        self.corrupted = 0
        self._usable = False
        self._records_mode = records
        self._records: SQLiteRecords | FileRecords | None = None
        self._counts: dict[str, list[int]] = {}  # kind -> [reused, made by this process]

    def check_location(self) -> None:
        """Create the cache folder, or raise :class:`CacheLocationError` naming where it was set."""
        if self._usable:
            return
        problem = location_problem(self.root)
        if problem is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                problem = f"cannot be created ({exc.strerror or exc})"
        if problem is not None:
            where = f"{CACHE_ENV}={self.root}" if self.from_env else f"the cache folder {self.root}"
            raise CacheLocationError(f"{where} {problem}: set {CACHE_ENV} (or the config's cache:) "
                                     "to a writable folder")
        self._usable = True

    # ----------------------------------------------------------------- activation
    @contextlib.contextmanager
    def activate(self) -> Iterator["Cache"]:
        """Within this block, every cacheable stage called stores and reuses its output here; records collected
        in the block are committed when it ends (also on an error or Ctrl-C)."""
        self.check_location()
        token = _ACTIVE.set(self)
        try:
            yield self
        except BaseException:
            _ACTIVE.reset(token)
            try:
                self.flush()
            except RecordStoreError as exc:  # the error that ended the block is the one to report
                log.warning("%s", exc)
            raise
        _ACTIVE.reset(token)
        self.flush()

    @staticmethod
    def active() -> "Cache | None":
        return _ACTIVE.get()

    # ----------------------------------------------------------------- counting
    def _count(self, kind: str | None, reused: int = 0, made: int = 0) -> None:
        if kind is not None:
            counts = self._counts.setdefault(kind, [0, 0])
            counts[0] += reused
            counts[1] += made

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind of entry: how many were ``reused`` from the cache and how many were ``made`` (and stored)."""
        return {kind: {"reused": r, "made": m} for kind, (r, m) in self._counts.items()}

    def summary(self) -> str:
        """What the cache did in this process, e.g. ``12 stage outputs reused, 3 computed; 2,310 LLM replies
        reused, 40 new``."""
        parts = []
        for kind, (reused, made) in self._counts.items():
            if reused or made:
                noun = _SINGULAR.get(kind, kind) if reused == 1 else kind
                parts.append(f"{reused:,} {noun} reused, {made:,} {_NEW.get(kind, 'computed')}")
        if self.corrupted or (self._records is not None and self._records.corrupted):
            parts.append(f"{self.corrupted + (self._records.corrupted if self._records else 0):,} damaged entries "
                         f"recomputed")
        return "; ".join(parts) or "nothing reused or stored"

    # ----------------------------------------------------------------- tables
    def _frame_paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / "frames" / key[:2]
        return base / f"{key}.parquet", base / f"{key}.meta.json"

    def get_frame(self, key: str, kind: str | None = TABLES) -> pd.DataFrame | None:
        """The table stored under ``key``, or None when absent or corrupted (then it is removed)."""
        legacy_path, meta_path = self._frame_paths(key)
        try:
            meta_bytes = meta_path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        data_path = legacy_path
        try:
            meta = json.loads(meta_bytes)
            data_path = legacy_path.with_name(meta.get("file", legacy_path.name))
            data = data_path.read_bytes()
            if _sha256(data) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            frame = read_table_bytes(data)
        except Exception as exc:  # corrupted, truncated or unreadable: recompute
            self.corrupted += 1
            self.misses += 1
            log.warning("cache entry %s is corrupted (%s); it will be recomputed", data_path, exc)
            self._discard(meta_path, meta_bytes, data_path)
            return None
        self.hits += 1
        self._count(kind, reused=1)
        if isinstance(meta.get("content"), str):
            remember_hash(frame, meta["content"])  # the fingerprint of the table as it was computed
        return frame

    @staticmethod
    def _discard(meta_path: Path, meta_bytes: bytes, data_path: Path) -> None:
        """Remove a corrupted entry, unless another writer has just published a new record for it."""
        with contextlib.suppress(OSError):
            data_path.unlink()
        with contextlib.suppress(OSError):
            if meta_path.read_bytes() == meta_bytes:
                meta_path.unlink()

    def put_frame(self, key: str, frame: pd.DataFrame, meta: dict[str, Any] | None = None,
                  kind: str | None = TABLES) -> None:
        """Store ``frame`` under ``key``: the data file (named by its checksum), then the record that makes it
        valid (with the table's content fingerprint); when another writer's record is already there, that
        entry stays."""
        self.check_location()
        self._count(kind, made=1)
        data = table_bytes(frame)
        digest = _sha256(data)
        legacy_path, meta_path = self._frame_paths(key)
        data_path = legacy_path.with_name(f"{key}.{digest[:16]}.parquet")
        atomic_write_bytes(data_path, data)  # same name, same bytes: replacing is harmless
        record = {"sha256": digest, "file": data_path.name, "rows": len(frame), "created": time.time(),
                  "content": hash_frame(frame), **(meta or {})}
        if not atomic_write_text(meta_path, json.dumps(record, sort_keys=True, default=str), replace=False):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(meta_path.read_bytes()).get("file") != data_path.name:
                    data_path.unlink()  # ours lost the race and nothing points to it

    # ----------------------------------------------------------------- small records
    @property
    def records(self) -> SQLiteRecords | FileRecords:
        """The store of small records (opened on first use)."""
        if self._records is None:
            self.check_location()
            self._records = open_records(self.root, self._records_mode)
        return self._records

    def get_json(self, key: str, kind: str | None = RECORDS) -> Any | None:
        """The record stored under ``key``, or None."""
        value = self.records.get(key)
        if value is not None:
            self._count(kind, reused=1)
        return value

    def put_json(self, key: str, value: Any, kind: str | None = RECORDS) -> None:
        """Store ``value`` (JSON, never None) under ``key`` unless a record is stored there first (that one stays).
        Cheap: records are committed in batches (:meth:`flush`)."""
        self.records.put(key, value)
        self._count(kind, made=1)

    def get_many(self, keys: Sequence[str], kind: str | None = RECORDS) -> list[Any | None]:
        """The records under ``keys``, in order, None where absent (one query per 900 keys)."""
        values = self.records.get_many(keys)
        self._count(kind, reused=sum(v is not None for v in values))
        return values

    def put_many(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]], kind: str | None = RECORDS) -> None:
        """Store several records (see :meth:`put_json`); a None value refuses them all (nothing is stored)."""
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        self.records.put_many(pairs)
        self._count(kind, made=len(pairs))

    def flush(self) -> None:
        """Commit the records collected so far (done by itself in batches, at the end of :meth:`activate` and at
        exit)."""
        if self._records is not None:
            self._records.flush()

    def close(self) -> None:
        """Commit collected records and close the record store (it reopens when used again)."""
        if self._records is not None:
            self._records.close()

    # ----------------------------------------------------------------- artefacts (folders)
    def artifact(self, kind: str, key: str, build: Callable[[Path], None]) -> Path:
        """The folder for artefact ``kind/key``, built by ``build(tmp_folder)`` when absent.

        The build happens in a private temporary folder that is renamed into place when complete, so an
        interrupted build leaves nothing that looks finished; when another writer publishes the same
        artefact first, its folder is kept and ours discarded. Temporary folders of dead writers in
        ``kind`` are removed first.
        """
        final = self.root / kind / key
        if complete(final):
            return final
        self.check_location()
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(final.parent)
        with build_folder(final.parent, key) as tmp:
            build(tmp)
            write_new_file(tmp / COMPLETE, str(time.time()).encode())
            publish_folder(tmp, final)
        return final

    def stats(self) -> dict[str, int]:
        """Tables read back (``hits``), not found (``misses``) and damaged entries (``corrupted``, records too)."""
        records = self._records.corrupted if self._records is not None else 0
        return {"hits": self.hits, "misses": self.misses, "corrupted": self.corrupted + records}
