"""One writer of a cache's record store, driven by tests/test_cache_records.py and experiments/bench_cache_store.py.

    python tests/record_writer.py race CACHE SIGNALS NAME N LAYOUT   wait for SIGNALS/go, then put N keys shared
        by every writer (value names the writer) and N keys of its own, in small batches; print what it reads back
    python tests/record_writer.py flood CACHE SIGNALS                put batches of 100 large records until killed

LAYOUT is ``sqlite`` or ``files``. Each record's value is derived from its key (:func:`value_of`), so a reader can
tell a whole record from a damaged one. Prints one JSON line.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.core.record_files import FileRecords  # noqa: E402
from rag.core.records import SQLiteRecords  # noqa: E402


def value_of(key: str, writer: str = "") -> dict:
    """A record that can be checked against its key: 2.5 kB of text derived from it."""
    return {"key": key, "writer": writer, "text": hashlib.sha256(key.encode()).hexdigest() * 40}


def _wait_for(path: Path, limit: float = 120.0) -> None:
    deadline = time.time() + limit
    while not path.exists():
        if time.time() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


def race(root: Path, signals: Path, name: str, n: int, layout: str) -> dict:
    store = SQLiteRecords(root, max_batch=25, max_delay_s=0.05) if layout == "sqlite" else FileRecords(root)
    (signals / f"ready.{name}").touch()
    _wait_for(signals / "go")
    started = time.perf_counter()
    for i in range(n):
        store.put(f"shared-{i:05d}", value_of(f"shared-{i:05d}", name))
        store.put(f"{name}-{i:05d}", value_of(f"{name}-{i:05d}", name))
    store.flush()
    seconds = time.perf_counter() - started
    back = store.get_many([f"shared-{i:05d}" for i in range(n)])
    store.close()
    return {"seconds": seconds, "shared": [v["writer"] if v else None for v in back]}


def flood(root: Path, signals: Path) -> dict:
    store = SQLiteRecords(root, max_batch=100, max_delay_s=3600)
    for batch in itertools.count():
        store.put_many((f"flood-{batch:06d}-{i:03d}", value_of(f"flood-{batch:06d}-{i:03d}")) for i in range(100))
        (signals / "started").touch()
    return {}


if __name__ == "__main__":
    mode, root, signal_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "race":
        print(json.dumps(race(root, signal_dir, sys.argv[4], int(sys.argv[5]), sys.argv[6])))
    else:
        print(json.dumps(flood(root, signal_dir)))
