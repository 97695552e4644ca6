"""One stream of requests per backend: an asyncio event loop in a daemon thread runs every request of a
backend, at most ``limit`` in flight across all callers, and hands each result to the calling thread as soon
as it is ready (no batches, no barrier, no thread pool per call).

>>> runner = RequestRunner(limit=16)                                    # doctest: +SKIP
>>> for i, reply in runner.stream(fetch, prompts):                      # doctest: +SKIP
...     store(i, reply)

``stream`` takes the items in order while a slot is free. When one request fails, no new request starts;
those in flight finish and are handed back, then the failure is raised. When the caller stops early (an
error of its own, Ctrl-C), requests not yet sent are never sent and those in flight are cancelled.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Awaitable, Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
_DONE = object()


class _Call:
    """The state of one ``stream`` call, shared by the loop thread and the caller."""

    def __init__(self) -> None:
        self.stop = False
        self.tasks: set[asyncio.Task] = set()
        self.results: queue.SimpleQueue = queue.SimpleQueue()


class RequestRunner:
    """Runs coroutines on a private event loop (started on first use) with at most ``limit`` in flight."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (its thread is started on first use)."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=serve, name="ragif-llm-requests", daemon=True).start()
                ready.wait()
                self._loop = loop
                self._slots = None
            return self._loop

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run one coroutine on the loop and wait for its result (outside the ``limit``)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop()).result()  # type: ignore[arg-type]

    def stream(self, fn: Callable[[Any], Awaitable[T]], items: Sequence[Any]) -> Iterator[tuple[int, T]]:
        """``(index, await fn(item))`` in the order the requests complete (see the module docstring)."""
        if not len(items):
            return
        loop = self.loop()
        call = _Call()
        pump = asyncio.run_coroutine_threadsafe(self._pump(fn, items, call), loop)
        received, started, error = 0, None, None
        try:
            while started is None or received < started:
                index, ok, value = call.results.get()
                if index is _DONE:
                    started = value
                    continue
                received += 1
                if ok:
                    yield index, value
                elif error is None:
                    error = value
        finally:
            if started is None or received < started:   # the caller stopped early: send nothing more
                call.stop = True
                pump.cancel()
                loop.call_soon_threadsafe(_cancel_all, call)
        if error is not None:
            raise error

    async def _pump(self, fn: Callable[[Any], Awaitable[T]], items: Sequence[Any], call: _Call) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots, started = self._slots, 0
        try:
            for index, item in enumerate(items):
                await slots.acquire()
                if call.stop:
                    slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._one(fn, index, item, call, slots))
                call.tasks.add(task)
                task.add_done_callback(call.tasks.discard)
                started += 1
        finally:
            call.results.put((_DONE, True, started))

    @staticmethod
    async def _one(fn: Callable[[Any], Awaitable[T]], index: int, item: Any, call: _Call,
                   slots: asyncio.Semaphore) -> None:
        try:
            result = await fn(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
            call.stop = True
            call.results.put((index, False, exc))
            if not isinstance(exc, Exception):
                raise
        else:
            call.results.put((index, True, result))
        finally:
            slots.release()

    def close(self) -> None:
        """Stop the loop and its thread (a later call starts new ones)."""
        with self._lock:
            loop, self._loop, self._slots = self._loop, None, None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)


def _cancel_all(call: _Call) -> None:
    for task in list(call.tasks):
        task.cancel()
