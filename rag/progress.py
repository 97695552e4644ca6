"""Progress bars for long work: shown on a terminal, silent in CI and logs (non-TTY).

``RAGIF_PROGRESS=1`` forces bars on, ``RAGIF_PROGRESS=0`` forces them off.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def enabled() -> bool:
    env = os.environ.get("RAGIF_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar (rates included) when enabled."""
    if not enabled():
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5)
