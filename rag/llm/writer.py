"""Writing LLM results to the cache off the stream's path: the thread that receives answers hands each one to
:class:`CacheWriter` and goes on; writer threads store them in batches.

A cache with ``put_many(items)`` (one transaction per batch) gets one writer thread; a cache with only
``put_json`` gets a few, whose synchronous writes then overlap. ``close()`` waits until everything handed over
is stored and raises the first write error, so a call returns only when its answers are on disk (and a run
that is stopped keeps all but the last few milliseconds of answers).
"""
from __future__ import annotations

import queue
import threading
from typing import Any

BATCH = 256          # most entries per put_many
PLAIN_WRITERS = 4    # threads for a cache without put_many (its per-entry syncs then overlap)
_STOP = object()


class CacheWriter:
    """Stores ``(key, value)`` pairs in ``cache`` from background threads; use as a context manager."""

    def __init__(self, cache: Any, kind: str | None = None):
        self.cache = cache
        self._kind = {"kind": kind} if kind is not None else {}   # what a ragif Cache counts the entries as
        self.batched = callable(getattr(cache, "put_many", None))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self.written = 0

    def __enter__(self) -> "CacheWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(raise_errors=exc[0] is None)

    def put(self, key: str, value: Any) -> None:
        """Hand one entry over (returns at once; a writer thread stores it)."""
        if self._error is not None:
            raise self._error
        if not self._threads:
            self._start()
        self._queue.put((key, value))

    def _start(self) -> None:
        for n in range(1 if self.batched else PLAIN_WRITERS):
            thread = threading.Thread(target=self._work, name=f"ragif-cache-writer-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            if self.batched:
                while len(batch) < BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        self._queue.put(_STOP)   # seen after this batch is written
                        break
                    batch.append(more)
            try:
                if self.batched:
                    self.cache.put_many(batch, **self._kind)
                else:
                    self.cache.put_json(*item, **self._kind)
                self.written += len(batch)
            except BaseException as exc:  # noqa: BLE001 - raised by close() in the caller's thread
                if self._error is None:
                    self._error = exc

    def close(self, raise_errors: bool = True) -> None:
        """Wait until every entry handed over is stored; then raise the first write error (if asked)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads = []
        if raise_errors and self._error is not None:
            raise self._error
