"""Small cache records (LLM replies, per-query notes) in one SQLite file: microseconds per entry.

``records.sqlite`` in the cache folder holds ``key -> JSON`` rows with a CRC-32 of each value. Guarantees, the
same as one file per record (:mod:`rag.core.record_files`) gave:

- **atomic, first writer wins**: rows are written with ``INSERT OR IGNORE`` in transactions; a second put of a
  key that is stored never replaces it, whichever process makes it;
- **many processes, one folder**: WAL mode (readers never wait for the writer), each process has one connection
  and holds the write lock only while it commits a batch; a busy database is waited for (``lock_timeout_s``);
- **batched**: puts collect in memory and are committed ``max_batch`` at a time, at the latest ``max_delay_s``
  after the oldest one, and at :meth:`flush`, :meth:`close`, the end of ``Cache.activate()`` and exit. A
  process killed with ``kill -9`` loses at most its uncommitted batch; a committed one is whole (SQLite's
  journal), so nothing partial is ever read;
- **nothing empty**: None (a missing result) is refused at ``put``; values are checked by CRC when read, and a
  damaged row is deleted and recomputed;
- **old caches**: a key missing here is looked up in the old one-file-per-record layout and copied over.

A damaged or stuck database is one :class:`RecordStoreError` line naming the file and what to do.
SQLite's WAL cannot be shared across hosts over a network file system: there :func:`open_records` keeps the
one-file-per-record layout unless told otherwise (``RAGIF_CACHE_RECORDS``).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
import weakref
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

from rag.core.errors import RagifError
from rag.core.record_files import FOLDER as LEGACY_FOLDER
from rag.core.record_files import FileRecords, encode, on_network_file_system

log = logging.getLogger(__name__)

FILE = "records.sqlite"
MODE_ENV = "RAGIF_CACHE_RECORDS"
MODES = ("auto", "sqlite", "files")
_CHUNK = 900  # keys per SELECT ... IN (...): below SQLite's limit on bound parameters
_LIVE: "weakref.WeakSet[SQLiteRecords]" = weakref.WeakSet()
_STORES: dict[tuple[str, str, bool], "SQLiteRecords | FileRecords"] = {}  # open_records: one store per folder
_OPENING = threading.Lock()


class RecordStoreError(RagifError):
    """The record store cannot be used (damaged, locked for too long, not writable); one line saying what to do."""


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


class SQLiteRecords:
    """``key -> JSON value`` rows in ``root/records.sqlite`` (see the module docstring).

    ``max_batch`` / ``max_delay_s``: when collected puts are committed; ``lock_timeout_s``: how long a write waits
    for another process's commit before :class:`RecordStoreError`; ``journal``: ``"wal"`` (local disks) or
    ``"delete"`` (SQLite's rollback journal, for a network file system whose locks work across hosts)."""

    layout = "sqlite"

    def __init__(self, root: str | Path, *, max_batch: int = 4096, max_delay_s: float = 1.0,
                 lock_timeout_s: float = 60.0, journal: str = "wal"):
        self.root = Path(root)
        self.path = self.root / FILE
        self.max_batch, self.max_delay_s, self.lock_timeout_s = max(1, int(max_batch)), float(max_delay_s), \
            float(lock_timeout_s)
        self.journal = journal
        self.corrupted = 0
        self._legacy = FileRecords(self.root)
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """Fresh per-process state (also in a child after ``fork``: it never uses its parent's connection, lock or
        batch; SQLite connections must not cross a fork)."""
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._conn: sqlite3.Connection | None = None
        self._pending: dict[str, str] = {}
        self._oldest = 0.0
        self._flusher: threading.Thread | None = None
        self._error: RecordStoreError | None = None
        self._has_legacy: bool | None = None

    # ------------------------------------------------------------------ connection
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            with self._errors("open"):
                with contextlib.suppress(FileExistsError):  # 0666 minus the umask, as for every cache file
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                conn = sqlite3.connect(self.path, timeout=self.lock_timeout_s, isolation_level=None,
                                       check_same_thread=False)
                try:
                    conn.execute(f"PRAGMA journal_mode={'WAL' if self.journal == 'wal' else 'DELETE'}")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    # rows appended in rowid order, found by the (small) unique index on the key: a batch of
                    # random hash keys rewrites few pages (x2.5-8 faster puts than the key as primary key)
                    conn.execute("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, key TEXT NOT NULL "
                                 "UNIQUE, value TEXT NOT NULL, crc INTEGER NOT NULL)")
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _errors(self, doing: str):
        """SQLite's errors as one line naming the file and what to do about it."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._explain(exc, doing) from None
        except OSError as exc:
            raise RecordStoreError(f"cache record store {self.path} cannot be opened ({exc.strerror or exc})") from None

    def _explain(self, exc: sqlite3.Error, doing: str) -> RecordStoreError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "locked" in text:
            return RecordStoreError(
                f"cache record store {self.path} stayed locked by another process for {self.lock_timeout_s:g} s "
                f"while trying to {doing} (a stuck process holds it, or the file system's locks do not work: "
                f"set {MODE_ENV}=files)")
        if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
            return RecordStoreError(
                f"cache record store {self.path} is damaged ({text}): move it aside or delete it and ragif starts "
                f"a new one (`sqlite3 {self.path} .recover` may save its records)")
        return RecordStoreError(f"cache record store {self.path}: cannot {doing} ({text})")

    # ------------------------------------------------------------------ reading
    def get(self, key: str) -> Any | None:
        """The record under ``key`` (committed by any process, else this process's uncommitted one), or None."""
        with self._lock:
            conn = self._connection()
            with self._errors("read"):
                row = conn.execute("SELECT value, crc FROM records WHERE key=?", (key,)).fetchone()
            if row is not None:
                value = self._decode(key, *row)
                if value is not None:
                    return value
                self._delete([(key, *row)])
            if key in self._pending:
                return _decode_text(self._pending[key])
        return self._from_legacy([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        """The records under ``keys``, in order (None where absent): one query per 900 keys."""
        keys = list(keys)
        found: dict[str, Any] = {}
        damaged: list[tuple[str, str, int]] = []
        with self._lock:
            conn = self._connection()
            with self._errors("read"):
                for start in range(0, len(keys), _CHUNK):
                    chunk = keys[start:start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for key, text, crc in conn.execute(f"SELECT key, value, crc FROM records WHERE key IN ({marks})",
                                                       chunk):
                        value = self._decode(key, text, crc)
                        if value is None:
                            damaged.append((key, text, crc))
                        else:
                            found[key] = value
            for key in keys:
                if key not in found and key in self._pending:
                    found[key] = _decode_text(self._pending[key])
            if damaged:
                self._delete(damaged)
        if len(found) < len(keys):
            found.update(self._from_legacy([k for k in keys if k not in found]))
        return [found.get(k) for k in keys]

    def _from_legacy(self, keys: list[str]) -> dict[str, Any]:
        """Records of the old one-file-per-record layout under ``keys``, copied into the store as they are read."""
        if self._has_legacy is None:
            self._has_legacy = self._legacy.folder.is_dir()
        if not self._has_legacy:
            return {}
        found = {}
        for key in dict.fromkeys(keys):
            value = self._legacy.get(key)
            if value is not None:
                found[key] = value
        if found:
            self.put_many(found.items())  # the next lookup is fast
        return found

    def _decode(self, key: str, text: Any, crc: Any) -> Any | None:
        try:
            if not isinstance(text, str) or _crc(text) != crc:
                raise ValueError("checksum mismatch")
            value = _decode_text(text)
            if value is None:
                raise ValueError("empty value")
            return value
        except ValueError as exc:
            self.corrupted += 1
            log.warning("cache record %s in %s is corrupted (%s); it will be recomputed", key, self.path, exc)
            return None

    def _delete(self, rows: list[tuple[str, str, int]]) -> None:
        """Remove damaged rows (only as read: another writer's fresh row stays)."""
        with self._errors("remove a damaged record"):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM records WHERE key=? AND value=? AND crc=?", rows)
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def put(self, key: str, value: Any) -> None:
        """Collect ``value`` for ``key`` (refusing None); committed with the batch, unless a record is stored
        under ``key`` by then (that one stays)."""
        self.put_many([(key, value)])

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Collect several records at once (see :meth:`put`); every value is checked before any is taken."""
        encoded = [(key, encode(key, value)) for key, value in items]
        full = False
        with self._lock:
            self._raise_failed_flush()
            for key, text in encoded:
                if not self._pending:
                    self._oldest = time.monotonic()
                self._pending.setdefault(key, text)
            full = len(self._pending) >= self.max_batch
            if not full and self._pending:
                self._start_flusher()
        if full:
            self.flush()

    def _raise_failed_flush(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def flush(self) -> None:
        """Commit the collected records now (one transaction; existing keys keep their first value)."""
        with self._lock:
            if not self._pending:
                self._raise_failed_flush()
                return
            rows = [(key, text, _crc(text)) for key, text in self._pending.items()]
            conn = self._connection()
            with self._errors(f"save {len(rows)} record(s)"):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.executemany("INSERT OR IGNORE INTO records (key, value, crc) VALUES (?, ?, ?)", rows)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            self._pending.clear()
            self._error = None

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_when_due, name="ragif-cache-records", daemon=True)
            self._flusher.start()
        else:
            self._wake.notify()

    def _flush_when_due(self) -> None:
        """Background: commit a batch once its oldest record is ``max_delay_s`` old (puts may stop for long)."""
        me = threading.current_thread()
        while True:
            with self._lock:
                if self._flusher is not me:
                    return
                if not self._pending:
                    self._wake.wait(timeout=60.0)
                    if not self._pending and self._flusher is me:
                        self._flusher = None  # idle: the next put starts a new thread
                        return
                    continue
                due = self._oldest + self.max_delay_s - time.monotonic()
                if due > 0:
                    self._wake.wait(timeout=due)
                    continue
                try:
                    self.flush()
                except RecordStoreError as exc:  # raised to the next put or flush of this process
                    self._error = exc
                    log.warning("%s; retrying", exc)
                    self._oldest = time.monotonic()

    def close(self) -> None:
        """Commit what is collected and close the connection (a later call reopens it)."""
        with self._lock:
            try:
                self.flush()
            finally:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                self._flusher = None  # the background thread sees it is no longer wanted and ends
                self._wake.notify_all()

    def __len__(self) -> int:
        with self._lock, self._errors("count records"):
            return int(self._connection().execute("SELECT count(*) FROM records").fetchone()[0])


def _decode_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None


def open_records(root: str | Path, mode: str | None = None) -> SQLiteRecords | FileRecords:
    """The record store of the cache folder ``root``: one per folder and process (every :class:`Cache` of the
    folder shares its connection and batch).

    ``mode`` (else ``$RAGIF_CACHE_RECORDS``, else ``auto``): ``sqlite`` one SQLite file (WAL on a local disk,
    the rollback journal on a network file system); ``files`` one JSON file per record (slow, works on any
    shared file system); ``auto`` SQLite on a local disk, files on a network file system (NFS, CIFS, Lustre,
    ...), where SQLite's WAL cannot be shared across hosts and its locks are often unreliable."""
    mode = (mode or os.environ.get(MODE_ENV) or "auto").strip().lower()
    if mode not in MODES:
        raise RecordStoreError(f"{MODE_ENV}={mode!r} is not one of {', '.join(MODES)}")
    network = on_network_file_system(root) if mode != "files" else None
    layout = "files" if mode == "files" or (mode == "auto" and network) else "sqlite"
    key = (os.path.realpath(root), layout, bool(network))
    with _OPENING:
        store = _STORES.get(key)
        if store is None:
            if layout == "files":
                if network:
                    log.info("cache folder %s is on %s: small records are kept one file each (set %s=sqlite to use "
                             "SQLite with its rollback journal)", root, network, MODE_ENV)
                store = FileRecords(root)
            else:
                store = SQLiteRecords(root, journal="delete" if network else "wal")
            _STORES[key] = store
    return store


def _forget_parent_state() -> None:
    for store in list(_LIVE):
        store._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_state)


@atexit.register
def _flush_at_exit() -> None:
    """Commit every store's collected records when the process ends normally (or on Ctrl-C)."""
    for store in list(_LIVE):
        try:
            if store._pid == os.getpid():
                store.flush()
        except Exception as exc:  # noqa: BLE001 - at exit there is no caller left to raise to
            print(f"ragif: warning: cache records were not saved: {exc}", file=sys.stderr)


__all__ = ["FILE", "LEGACY_FOLDER", "MODE_ENV", "RecordStoreError", "SQLiteRecords", "open_records"]
