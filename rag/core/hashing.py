"""Content fingerprints of configurations, DataFrames and files (the keys of the on-disk cache)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DIGEST_SIZE = 16


def _hasher() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=DIGEST_SIZE)


def canonical(value: Any) -> Any:
    """A JSON-serialisable, order-independent form of a configuration value.

    Objects that know their own identity (stages, corpora, datasets) expose ``fingerprint()``.
    """
    if hasattr(value, "fingerprint") and callable(value.fingerprint):
        return {"__fingerprint__": value.fingerprint()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__class__": type(value).__qualname__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return repr(f) if (math.isnan(f) or math.isinf(f)) else f
    if isinstance(value, np.ndarray):
        return {"__ndarray__": hash_bytes(np.ascontiguousarray(value).tobytes()), "shape": list(value.shape)}
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}")


def hash_bytes(data: bytes) -> str:
    h = _hasher()
    h.update(data)
    return h.hexdigest()


def hash_config(*parts: Any) -> str:
    """Fingerprint of any mix of configuration values (see :func:`canonical`)."""
    text = json.dumps([canonical(p) for p in parts], sort_keys=True, separators=(",", ":"))
    return hash_bytes(text.encode("utf-8"))


def _column_bytes(series: pd.Series) -> bytes:
    try:
        hashed = pd.util.hash_pandas_object(series, index=False, categorize=True)
        return hashed.to_numpy().tobytes()
    except TypeError:  # unhashable cells such as lists or dicts
        return "\x1f".join(json.dumps(canonical(v), sort_keys=True, default=str)
                           if not isinstance(v, str) else v for v in series.tolist()).encode("utf-8")


def hash_frame(frame: pd.DataFrame) -> str:
    """Fingerprint of a DataFrame's content: column names and values, in row order.

    Columns are taken in sorted order, so the same content with columns reordered hashes the same;
    storage dtypes (object vs. string) do not count, so a frame read back from the cache hashes
    like the one that was written.
    """
    h = _hasher()
    h.update(str(len(frame)).encode())
    for name in sorted(frame.columns, key=str):
        col = frame[name]
        h.update(f"\x1e{name}\x1d".encode())
        h.update(_column_bytes(col))
    return h.hexdigest()


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Fingerprint of a file's bytes."""
    h = _hasher()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_files(paths: list[str | Path]) -> str:
    """Fingerprint of several files' bytes (in the order given; names are not part of it)."""
    return hash_config([hash_file(p) for p in paths])
