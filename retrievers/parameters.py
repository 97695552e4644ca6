"""BM25 parameters checked in Python, before any backend sees them (Lucene would answer a negative ``k1``
with a JVM stack trace, and a NaN would pass every comparison and give nonsense scores)."""
from __future__ import annotations

import math
import numbers

from rag.core import params
from rag.core.errors import ConfigError

from retrievers.base import MAX_K


def check_bm25_parameters(k1: float, b: float, k: int, threads: int = 1) -> None:
    """``k1`` finite and >= 0, ``0 <= b <= 1``, ``k`` and ``threads`` integers >= 1: else a
    :class:`ConfigError` naming the parameter (its ``field``)."""
    for name, value in (("k1", k1), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"BM25 {name} must be a finite number, got {value!r}", field=name)
    if k1 < 0:
        raise ConfigError(f"BM25 k1 must be >= 0 (0 ignores term frequency), got {k1}", field="k1")
    if not 0 <= b <= 1:
        raise ConfigError(f"BM25 b must be between 0 (no length normalisation) and 1 (full), got {b}", field="b")
    params.integer(k, "k", 1, MAX_K)
    params.integer(threads, "threads", 1, MAX_K)
