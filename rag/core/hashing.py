"""Content fingerprints of configurations, DataFrames and files (the keys of the on-disk cache).

A DataFrame is hashed once per object: :func:`hash_frame` remembers each frame's fingerprint (for as long as the
frame lives) and gives it again after a cheap check that the frame was not changed since (see
:func:`hash_frame`), so a pipeline's tables are not re-hashed by every stage, evaluation and report that keys on
them. A table read back from the cache is given the fingerprint it was stored with (:func:`remember_hash`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import weakref
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DIGEST_SIZE = 16
_json_string = json.encoder.encode_basestring_ascii   # what json.dumps writes for a str (ensure_ascii)


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
        return "\x1f".join(map(_cell_text, series.tolist())).encode("utf-8")


def _cell_text(value: Any) -> str:
    """A cell of an object column as its fingerprint reads it: a string as itself, anything else as the JSON of
    its :func:`canonical` form. A list of strings (answers, contexts, docnos) is written by the JSON encoder's own
    string escaper, which gives the same text without walking :func:`canonical` element by element."""
    if isinstance(value, str):
        return value
    if type(value) is list:
        try:
            return "[" + ", ".join(map(_json_string, value)) + "]"   # json.dumps' text for a list of strings
        except TypeError:   # an element that is not a string
            pass
    return json.dumps(canonical(value), sort_keys=True, default=str)


def hash_frame(frame: pd.DataFrame) -> str:
    """Fingerprint of a DataFrame's content: column names and values, in row order.

    Columns are taken in sorted order, so the same content with columns reordered hashes the same;
    storage dtypes (object vs. string) do not count, so a frame read back from the cache hashes
    like the one that was written.

    The fingerprint of a frame object is remembered while it lives and given again, without hashing, when the
    frame still has the same shape, column names and dtypes, the same (immutable) Arrow arrays behind its string
    columns, the same bytes in its numeric columns (a CRC-32, about 1 ms per 10 MB) and the same values in 64
    evenly spaced rows of any other column (lists, Python objects). An in-place edit of such an object column
    outside those rows is not seen: stages give new frames and never edit their input (copy first).
    """
    memo = _MEMO.get(id(frame))
    if memo is not None and memo[0]() is frame:
        if _frame_check(frame)[0] == memo[2]:
            return memo[3]
    digest = _hash_frame(frame)
    remember_hash(frame, digest)
    return digest


# id(frame) -> (weak reference, the Arrow arrays its check names by id (kept alive, so that no other array
#               takes their id), the check, the fingerprint); an entry goes when its frame is garbage-collected
_MEMO: dict[int, tuple[weakref.ref, list[Any], tuple, str]] = {}
_SAMPLE_ROWS = 64


def remember_hash(frame: pd.DataFrame, digest: str) -> None:
    """Record that ``frame`` has the fingerprint ``digest`` (computed, or stored with it in the cache), so that
    :func:`hash_frame` gives it without hashing while ``frame`` is unchanged."""
    key = id(frame)
    try:
        ref = weakref.ref(frame, lambda _, key=key: _MEMO.pop(key, None))
    except TypeError:  # pragma: no cover - DataFrames take weak references
        return
    check, arrays = _frame_check(frame)
    _MEMO[key] = (ref, arrays, check, digest)


def _frame_check(frame: pd.DataFrame) -> tuple[tuple, list[Any]]:
    """A cheap summary of ``frame`` that changes when its content does (see :func:`hash_frame`), and the Arrow
    arrays it names by id."""
    parts: list[Any] = [frame.shape, tuple(map(str, frame.columns))]
    arrays: list[Any] = []
    rows = np.unique(np.linspace(0, len(frame) - 1, _SAMPLE_ROWS).astype(np.int64)) if len(frame) else None
    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        values = col.array
        parts.append(str(col.dtype))
        arrow = getattr(values, "_pa_array", None) if isinstance(values, pd.arrays.ArrowExtensionArray) else None
        if arrow is not None:  # Arrow arrays never change in place: an edit puts a new one in the column
            arrays.append(arrow)
            parts.append(("arrow", id(arrow)))
        elif isinstance(col.dtype, np.dtype) and col.dtype.kind in "biufcmM":
            parts.append(("crc", zlib.crc32(np.ascontiguousarray(col.to_numpy()).view(np.uint8))))
        elif rows is not None:
            parts.append(("rows", _column_bytes(col.iloc[rows])))
    return tuple(parts), arrays


def _hash_frame(frame: pd.DataFrame) -> str:
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
