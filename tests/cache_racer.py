"""One writer of a cache shared by several processes (driven by tests/test_cache_sharing.py).

    python tests/cache_racer.py lucene CACHE SIGNALS WRITERS   build the demo Lucene index (all writers publish
                                                               at the same moment), then search it
    python tests/cache_racer.py hold CACHE SIGNALS KEY         start building artefact KEY and wait forever
    python tests/cache_racer.py build CACHE SIGNALS KEY        build artefact KEY (cleaning orphans first)

Each prints one JSON line.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.core.cache import Cache  # noqa: E402


def _wait(condition, limit: float = 240.0) -> None:
    deadline = time.time() + limit
    while not condition():
        if time.time() > deadline:
            raise TimeoutError("the other writers did not get there")
        time.sleep(0.02)


def lucene(cache: Cache, signals: Path, writers: int) -> dict:
    """Every writer builds the index, waits until all have built theirs, then publishes and searches it
    repeatedly while the others publish: a writer that replaced a finished index breaks the others."""
    from rag.datasets import demo
    from retrievers.lucene import LuceneBM25, build_index

    data = demo()
    stage = LuceneBM25(data.corpus, k=10)

    def build(tmp: Path) -> None:
        build_index(data.corpus, tmp)
        (signals / f"built.{os.getpid()}").touch()
        _wait(lambda: len(list(signals.glob("built.*"))) >= writers)

    with cache.activate():
        folder = cache.artifact("lucene-index", stage.index_key(), build)
        (signals / f"published.{os.getpid()}").touch()
        digests = set()
        deadline = time.time() + 2.0
        while time.time() < deadline or len(list(signals.glob("published.*"))) < writers:
            stage._searcher = None  # a fresh searcher each time: reopen the files on disk
            run = stage.transform(data.queries())
            digests.add(hashlib.sha256(run.to_csv(index=False).encode()).hexdigest())
    return {"folder": str(folder), "runs": sorted(digests)}


def hold(cache: Cache, signals: Path, key: str) -> dict:
    def build(tmp: Path) -> None:
        (tmp / "part").write_text("half")
        (signals / f"holding.{os.getpid()}").touch()
        time.sleep(3600)

    cache.artifact("test-kind", key, build)
    return {}


def build(cache: Cache, signals: Path, key: str) -> dict:
    folder = cache.artifact("test-kind", key, lambda tmp: (tmp / "part").write_text("whole"))
    return {"folder": str(folder)}


if __name__ == "__main__":
    mode, root, signal_dir, arg = sys.argv[1:5]
    actions = {"lucene": lambda c, s: lucene(c, s, int(arg)), "hold": lambda c, s: hold(c, s, arg),
               "build": lambda c, s: build(c, s, arg)}
    print(json.dumps(actions[mode](Cache(root), Path(signal_dir))))
