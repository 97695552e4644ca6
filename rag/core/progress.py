"""Progress bars for long work (indexing, encoding, training, LLM calls), with rates: shown on a terminal,
silent in CI and logs (non-TTY), so captured output stays clean.

``RAGIF_PROGRESS=1`` forces bars on, ``RAGIF_PROGRESS=0`` forces them off.

>>> from rag.core.progress import bar, progress
>>> for doc in progress(corpus, total=len(corpus), desc="indexing", unit="doc"):   # doctest: +SKIP
...     index(doc)
>>> with bar(total=len(texts), desc="encoding", unit="text") as update:           # doctest: +SKIP
...     for batch in batches:
...         encode(batch)
...         update(len(batch))                                                     # rate in texts/s
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")
OFF = ("0", "false", "no", "off", "")


def enabled(stream: TextIO | None = None) -> bool:
    """Whether bars are drawn: ``$RAGIF_PROGRESS`` when set, else whether ``stream`` (stderr) is a terminal."""
    env = os.environ.get("RAGIF_PROGRESS")
    if env is not None:
        return env.strip().lower() not in OFF
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _tqdm(total: int | None, desc: str, unit: str, scale: float | None, stream: TextIO | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5, smoothing=0.1,
                unit_scale=scale if scale is not None else False, file=stream if stream is not None else sys.stderr)


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
             scale: float | None = None, stream: TextIO | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a bar (count, elapsed, rate in ``unit``/s) when :func:`enabled`.

    ``scale``: how many ``unit`` one item stands for (a batch of 32 texts: ``unit="text", scale=32``),
    so the rate reads in texts/s rather than batches/s.
    """
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if not enabled(stream):
        yield from items
        return
    with _tqdm(total, desc, unit, scale, stream) as pbar:
        for item in items:
            yield item
            pbar.update(1)


@contextlib.contextmanager
def bar(total: int | None = None, desc: str = "", unit: str = "it",
        stream: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """A bar advanced by hand: yields ``update(n)``. A no-op (nothing printed) when not :func:`enabled`."""
    if not enabled(stream):
        yield lambda n=1: None
        return
    with _tqdm(total, desc, unit, None, stream) as pbar:
        yield lambda n=1: pbar.update(n)
