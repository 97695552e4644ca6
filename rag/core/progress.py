"""Progress of long work (indexing, encoding, training, LLM calls, scoring): a bar on a terminal, a
periodic line in scripts, CI and logs, nothing when switched off.

Where the output goes decides the form (stderr by default):

- a terminal: a tqdm bar with count, elapsed time and rate;
- anything else (a pipe, a file, a CI log): one line every 10% of the work or every 30 s, whichever
  comes first, with the count, rate and ETA, and a closing ``done`` line; work that ends within its
  first seconds (``RAGIF_PROGRESS_DELAY``, default 5) prints nothing at all, so quick calls stay quiet.

Within :func:`scope` (an experiment sets it to the running system), every description starts with that
name: ``BM25 → reader / Reader: 120/200 answers``.

``RAGIF_PROGRESS=0`` (or ``false``/``no``/``off``) silences both, ``RAGIF_PROGRESS=1`` forces the bar,
``RAGIF_PROGRESS=lines`` forces the lines. A line reads::

    encoding: 2,560/5,183 text (49%) in 0:48, 53.3 text/s, ETA 0:49

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
import contextvars
import math
import os
import sys
import time
from typing import Callable, Iterable, Iterator, Literal, TextIO, TypeVar

T = TypeVar("T")
Mode = Literal["bar", "lines", "off"]
OFF = ("0", "false", "no", "off", "")
LINES = ("lines", "line", "log")
EVERY_FRACTION = 0.1
EVERY_SECONDS = 30.0
DEFAULT_DELAY = 5.0
_SCOPE: contextvars.ContextVar[str | None] = contextvars.ContextVar("ragif_progress_scope", default=None)


@contextlib.contextmanager
def scope(name: str) -> Iterator[None]:
    """Within this block, progress descriptions start with ``name / `` (e.g. the system being run)."""
    token = _SCOPE.set(name)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def scoped(desc: str) -> str:
    """``desc`` with the current :func:`scope` in front (unchanged outside one)."""
    name = _SCOPE.get()
    return f"{name} / {desc}" if name and desc else desc or name or ""


def mode(stream: TextIO | None = None) -> Mode:
    """How progress is shown on ``stream`` (stderr): ``$RAGIF_PROGRESS`` when set, else a bar on a
    terminal and periodic lines anywhere else."""
    env = os.environ.get("RAGIF_PROGRESS")
    if env is not None:
        value = env.strip().lower()
        return "off" if value in OFF else "lines" if value in LINES else "bar"
    stream = stream if stream is not None else sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):  # closed or replaced streams
        return "lines"


def enabled(stream: TextIO | None = None) -> bool:
    """Whether anything is shown at all (a bar or lines)."""
    return mode(stream) != "off"


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("RAGIF_PROGRESS_DELAY", DEFAULT_DELAY)))
    except ValueError:
        return DEFAULT_DELAY


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _rate(done: float, seconds: float, unit: str) -> str:
    if seconds <= 0 or done <= 0:
        return f"- {unit}/s"
    rate = done / seconds
    if rate < 1:
        return f"{seconds / done:,.1f} s/{unit}"
    return f"{rate:,.0f} {unit}/s" if rate >= 100 else f"{rate:.1f} {unit}/s" if rate >= 10 else f"{rate:.2f} {unit}/s"


class LineReporter:
    """Periodic progress lines for output that is not a terminal (see the module docstring).

    ``update(n)`` counts ``n`` items (each standing for ``scale`` units); a line is written when the
    count crosses the next tenth of ``total`` or ``every_seconds`` have passed since the last line,
    once ``delay`` seconds have passed since the start. ``close()`` writes the closing line when any
    line was written or the work outlasted ``delay``.
    """

    def __init__(self, total: float | None, desc: str = "", unit: str = "it", scale: float | None = None,
                 stream: TextIO | None = None, initial: float = 0, delay: float | None = None,
                 every_seconds: float = EVERY_SECONDS, every_fraction: float = EVERY_FRACTION,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total if total else None
        self.desc, self.unit, self.scale = desc or "progress", unit, scale or 1
        self.stream = stream
        self.clock = clock
        self.delay = _delay() if delay is None else delay
        self.every_seconds, self.every_fraction = every_seconds, every_fraction
        self.initial = self.count = initial
        self.start = self.last = clock()
        self.lines = 0
        self.closed = False
        self.next_mark = self._mark_after(initial)

    def _mark_after(self, count: float) -> float:
        """The next tenth (``every_fraction``) of the total at least half a tenth beyond ``count``."""
        if not self.total:
            return math.inf
        step = self.total * self.every_fraction
        return (math.floor((count + step / 2) / step + 1e-9) + 1) * step

    def _write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        print(text, file=stream, flush=True)
        self.lines += 1

    def line(self, now: float | None = None) -> str:
        """The progress line for the current count."""
        now = self.clock() if now is None else now
        elapsed = now - self.start
        done_here = (self.count - self.initial) * self.scale
        text = f"{self.desc}: {_number(self.count * self.scale)}"
        if self.total:
            pct = 100.0 * self.count / self.total
            text += f"/{_number(self.total * self.scale)} {self.unit} ({pct:.0f}%)"
        else:
            text += f" {self.unit}"
        text += f" in {_clock(elapsed)}, {_rate(done_here, elapsed, self.unit)}"
        if self.total and done_here > 0 and self.count < self.total:
            left = (self.total - self.count) * self.scale * elapsed / done_here
            text += f", ETA {_clock(left)}"
        return text

    def update(self, n: float = 1) -> None:
        self.count += n
        now = self.clock()
        if now - self.start < self.delay:
            return
        crossed = self.count >= self.next_mark
        if crossed or now - self.last >= self.every_seconds:
            if self.total is None or self.count < self.total:
                self._write(self.line(now))
            self.last = now
            self.next_mark = self._mark_after(self.count)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        now = self.clock()
        elapsed = now - self.start
        if not self.lines and elapsed < self.delay:
            return
        done_here = (self.count - self.initial) * self.scale
        finished = self.total is None or self.count >= self.total
        what = "done" if finished else f"stopped at {_number(self.count * self.scale)}/{_number(self.total * self.scale)}"
        self._write(f"{self.desc}: {what}, {_number(done_here)} {self.unit} in {_clock(elapsed)} "
                    f"({_rate(done_here, elapsed, self.unit)})")


def _tqdm(total: int | None, desc: str, unit: str, scale: float | None, stream: TextIO | None, initial: float = 0):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5, smoothing=0.1,
                initial=initial, unit_scale=scale if scale is not None else False,
                file=stream if stream is not None else sys.stderr)


def _total_of(items: Iterable[T], total: int | None) -> int | None:
    if total is not None:
        return total
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it",
             scale: float | None = None, stream: TextIO | None = None) -> Iterator[T]:
    """Iterate over ``items`` showing progress (see the module docstring).

    ``scale``: how many ``unit`` one item stands for (a batch of 32 texts: ``unit="text", scale=32``),
    so the rate reads in texts/s rather than batches/s. For batches of uneven size, use :func:`bar`
    and ``update(len(batch))``.
    """
    total = _total_of(items, total)
    desc = scoped(desc)
    shown = mode(stream)
    if shown == "off":
        yield from items
        return
    if shown == "bar":
        with _tqdm(total, desc, unit, scale, stream) as pbar:
            for item in items:
                yield item
                pbar.update(1)
        return
    reporter = LineReporter(total, desc, unit, scale, stream)
    try:
        for item in items:
            yield item
            reporter.update(1)
    finally:
        reporter.close()


@contextlib.contextmanager
def bar(total: int | None = None, desc: str = "", unit: str = "it", stream: TextIO | None = None,
        initial: int = 0) -> Iterator[Callable[[int], None]]:
    """Progress advanced by hand: yields ``update(n)``. ``initial``: work already done (a resumed run)."""
    desc = scoped(desc)
    shown = mode(stream)
    if shown == "off":
        yield lambda n=1: None
        return
    if shown == "bar":
        with _tqdm(total, desc, unit, None, stream, initial=initial) as pbar:
            yield lambda n=1: pbar.update(n)
        return
    reporter = LineReporter(total, desc, unit, None, stream, initial=initial)
    try:
        yield reporter.update
    finally:
        reporter.close()
