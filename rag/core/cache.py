"""Content-addressed on-disk cache: stage outputs (tables), JSON records and built artefacts.

Every write goes to a temporary file in the same folder and is renamed into place, so a killed
process never leaves a half-written entry under a final name. Tables carry a SHA-256 checksum in a
sidecar record; an entry whose bytes do not match is reported, removed and recomputed.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

_ACTIVE: contextvars.ContextVar["Cache | None"] = contextvars.ContextVar("ragif_cache", default=None)


def default_cache_root() -> Path:
    """``$RAGIF_CACHE`` if set, else ``~/.cache/ragif``."""
    env = os.environ.get("RAGIF_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ragif"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lists_back(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet returns list cells as numpy arrays; give them back as Python lists."""
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            first = next((v for v in col if v is not None and not (isinstance(v, float) and np.isnan(v))), None)
            if isinstance(first, np.ndarray):
                frame[name] = [v.tolist() if isinstance(v, np.ndarray) else v for v in col]
    return frame


class Cache:
    """A folder of content-addressed entries.

    >>> cache = Cache("/tmp/ragif-cache")            # doctest: +SKIP
    >>> frame = cache.get_frame(key)                  # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_root()
        self.hits = 0
        self.misses = 0
        self.corrupted = 0

    # ----------------------------------------------------------------- activation
    @contextlib.contextmanager
    def activate(self) -> Iterator["Cache"]:
        """Within this block, every cacheable stage called stores and reuses its output here."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    @staticmethod
    def active() -> "Cache | None":
        return _ACTIVE.get()

    # ----------------------------------------------------------------- tables
    def _frame_paths(self, key: str) -> tuple[Path, Path]:
        base = self.root / "frames" / key[:2]
        return base / f"{key}.parquet", base / f"{key}.meta.json"

    def get_frame(self, key: str) -> pd.DataFrame | None:
        """The table stored under ``key``, or None when absent or corrupted (then it is removed)."""
        data_path, meta_path = self._frame_paths(key)
        if not meta_path.exists() or not data_path.exists():
            self.misses += 1
            return None
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            data = data_path.read_bytes()
            if _sha256(data) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            import io
            frame = pd.read_parquet(io.BytesIO(data))
            frame = _lists_back(frame)
        except Exception as exc:  # corrupted, truncated or unreadable: recompute
            self.corrupted += 1
            self.misses += 1
            log.warning("cache entry %s is corrupted (%s); it will be recomputed", data_path, exc)
            for p in (data_path, meta_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            return None
        self.hits += 1
        return frame

    def put_frame(self, key: str, frame: pd.DataFrame, meta: dict[str, Any] | None = None) -> None:
        """Store ``frame`` under ``key`` (data first, then the record that makes it valid)."""
        import io
        buf = io.BytesIO()
        frame.reset_index(drop=True).to_parquet(buf, index=False)
        data = buf.getvalue()
        data_path, meta_path = self._frame_paths(key)
        atomic_write_bytes(data_path, data)
        record = {"sha256": _sha256(data), "rows": len(frame), "created": time.time(), **(meta or {})}
        atomic_write_text(meta_path, json.dumps(record, sort_keys=True, default=str))

    # ----------------------------------------------------------------- small records
    def _json_path(self, key: str) -> Path:
        return self.root / "records" / key[:2] / f"{key}.json"

    def get_json(self, key: str) -> Any | None:
        path = self._json_path(key)
        if not path.exists():
            return None
        try:
            wrapper = json.loads(path.read_text("utf-8"))
            body = json.dumps(wrapper["value"], sort_keys=True)
            if _sha256(body.encode()) != wrapper["sha256"]:
                raise ValueError("checksum mismatch")
            return wrapper["value"]
        except Exception as exc:
            self.corrupted += 1
            log.warning("cache record %s is corrupted (%s); it will be recomputed", path, exc)
            path.unlink(missing_ok=True)
            return None

    def put_json(self, key: str, value: Any) -> None:
        body = json.dumps(value, sort_keys=True)
        atomic_write_text(self._json_path(key), json.dumps({"sha256": _sha256(body.encode()), "value": value}))

    # ----------------------------------------------------------------- artefacts (folders)
    def artifact(self, kind: str, key: str, build: Callable[[Path], None]) -> Path:
        """The folder for artefact ``kind/key``, built by ``build(tmp_folder)`` when absent.

        The build happens in a temporary sibling folder that is renamed into place when complete,
        so an interrupted build leaves nothing that looks finished.
        """
        final = self.root / kind / key
        marker = final / ".complete"
        if marker.exists():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}."))
        try:
            build(tmp)
            (tmp / ".complete").write_text(str(time.time()))
            if final.exists():  # a stale, incomplete folder from an interrupted run
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "corrupted": self.corrupted}
