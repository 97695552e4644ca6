"""Small cache records as one JSON file each (the layout of ragif 0.1, and the one kept on network file systems).

Each record is ``records/<2 hex>/<key>.json`` holding ``{"sha256": ..., "value": ...}``, written to a temporary
file, flushed to disk and hard-linked into place (first writer wins: an existing file is never replaced).
Correct on any file system with hard links or rename, NFS included, but one file per record costs
milliseconds and a disk block each; :mod:`rag.core.records` keeps them in one SQLite file where it can.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from rag.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

FOLDER = "records"
# file systems where SQLite's WAL (a memory-mapped index shared by every process) cannot work across hosts
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "fuse.glusterfs", "lustre",
    "gpfs", "beegfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs", "davfs",
    "fuse.davfs", "orangefs", "pvfs2", "ocfs2", "gfs2"})


def encode(key: str, value: Any) -> str:
    """The JSON text stored for ``value``; refuses what must never be cached (None or a blank string: a missing
    result)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"a cache record needs a non-empty string key, not {key!r:.60}")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"cache record {key}: {'None' if value is None else 'an empty string'} cannot be stored "
                         f"(a missing result is never cached)")
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cache record {key}: the value cannot be stored as JSON ({exc})") from None


class FileRecords:
    """Records as one JSON file each under ``root/records`` (see the module docstring)."""

    layout = "files"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.folder = self.root / FOLDER
        self.corrupted = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The record under ``key``, or None when absent or damaged (a damaged file is removed)."""
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            wrapper = json.loads(raw)
            body = json.dumps(wrapper["value"], sort_keys=True)
            if hashlib.sha256(body.encode()).hexdigest() != wrapper["sha256"]:
                raise ValueError("checksum mismatch")
            return wrapper["value"]
        except Exception as exc:  # truncated, flipped bits, not JSON: recompute
            self.corrupted += 1
            log.warning("cache record %s is corrupted (%s); it will be recomputed", path, exc)
            with contextlib.suppress(OSError):
                if path.read_bytes() == raw:
                    path.unlink()
            return None

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        return [self.get(k) for k in keys]

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` unless another writer stored one first (that one stays)."""
        encode(key, value)
        body = json.dumps(value, sort_keys=True)
        atomic_write_text(self._path(key), json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest(),
                                                       "value": value}), replace=False)

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        """Store several records (see :meth:`put`); every value is checked before any is written."""
        items = list(items)
        for key, value in items:
            encode(key, value)
        for key, value in items:
            self.put(key, value)

    def flush(self) -> None:
        """Nothing to do: every put is on disk when it returns."""

    def close(self) -> None:
        """Nothing to close."""


def file_system_type(path: str | Path, mountinfo: str | Path = "/proc/self/mountinfo") -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``nfs4``, ...) from ``mountinfo``, or None where
    that cannot be read (not Linux)."""
    target = os.path.realpath(path)  # links resolved as far as the path exists
    best, kind = "", None
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) < 5 or not tail:
                    continue
                mount = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, tail[0]
    except OSError:
        return None
    return kind


def on_network_file_system(path: str | Path, mountinfo: str | Path = "/proc/self/mountinfo") -> str | None:
    """The network file system type holding ``path`` (``nfs4``, ``cifs``, ...), or None for a local one."""
    kind = file_system_type(path, mountinfo)
    return kind if kind is not None and kind.lower() in NETWORK_FILE_SYSTEMS else None
