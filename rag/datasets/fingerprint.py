"""Content fingerprints of data files, hashed once: memoised by what ``stat`` says of the file.

A file's fingerprint (the hash of its bytes, :func:`rag.core.hashing.hash_file`) is remembered under its
path, size, modification time (ns), inode and device, in this process and as a record in the cache, so
that loading a data set again costs a ``stat`` per file, not a read of a corpus of gigabytes. Any change
of those makes the file hashed again. A file modified in the last :data:`RACY_SECONDS` is remembered
only by this process, not in the cache (a second write within the clock's resolution could keep size and
time the same: git's "racily clean" entries).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from rag.core.errors import RagifError
from rag.core.hashing import hash_config, hash_file

log = logging.getLogger(__name__)

RACY_SECONDS = 2.0
_MEMO: dict[tuple, str] = {}


def _identity(path: Path) -> tuple:
    st = os.stat(path)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def file_fingerprint(path: str | Path) -> str:
    """The hash of the file's bytes, read only when the file is new or changed since it was last hashed."""
    path = Path(path)
    identity = _identity(path)
    if identity in _MEMO:
        return _MEMO[identity]
    stable = time.time_ns() - identity[2] > RACY_SECONDS * 1e9
    cache = _cache() if stable else None
    key = hash_config("file-fingerprint", *identity)
    if cache is not None:
        found = cache.get_json(key)
        if isinstance(found, str):
            _MEMO[identity] = found
            return found
    digest = hash_file(path)
    _MEMO[identity] = digest
    if cache is not None:
        try:
            cache.put_json(key, digest)
        except (OSError, RagifError) as exc:   # a read-only cache only costs a re-hash next time
            log.debug("file fingerprint of %s not remembered: %s", path, exc)
    return digest


def files_fingerprint(paths: list[str | Path]) -> str:
    """Fingerprint of several files' bytes, in the order given (as :func:`rag.core.hashing.hash_files`)."""
    return hash_config([file_fingerprint(p) for p in paths])


def _cache():
    from rag.core.cache import Cache, location_problem

    cache = Cache.active() or Cache()
    return cache if location_problem(cache.root) is None else None
