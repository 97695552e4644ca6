"""Checking a component's parameter values, one rule for every stage.

A value the user gave that a component cannot use (in Python or in a config) is a
:class:`~rag.core.errors.ConfigError` whose ``field`` is the parameter's name: the config builder
(:mod:`rag.core.build`) then adds the file and the line. The stage bases (Retriever, Reranker, the reader,
RankCutoff) check their shared parameters with these, so the same mistake reads the same everywhere.

>>> integer(0, "depth")
Traceback (most recent call last):
...
rag.core.errors.ConfigError: field 'depth': depth must be an integer from 1, got 0
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, TypeVar

from rag.core.errors import ConfigError, did_you_mean

T = TypeVar("T")


def integer(value: Any, field: str, low: int = 1, high: int | None = None) -> int:
    """``value`` when it is an integer (not a bool) from ``low`` to ``high``; else a ConfigError on ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        span = f"from {low}" + (f" to {high}" if high is not None else "")
        raise ConfigError(f"{field} must be an integer {span}, got {value!r}", field=field)
    return int(value)


def number(value: Any, field: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` when it is a finite number (not a bool) within ``[low, high]``; else a ConfigError on ``field``."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        span = ("" if low is None and high is None else f" from {low} to {high}" if low is not None and high is not None
                else f" >= {low}" if low is not None else f" <= {high}")
        raise ConfigError(f"{field} must be a finite number{span}, got {value!r}", field=field)
    return float(value)


def flag(value: Any, field: str) -> bool:
    """``value`` when it is ``True`` or ``False``; else a ConfigError on ``field``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{field} must be true or false, got {value!r}", field=field)
    return value


def choice(value: T, choices: Iterable[T], field: str) -> T:
    """``value`` when it is one of ``choices``; else a ConfigError on ``field`` with a did-you-mean."""
    options = list(choices)
    if value not in options:
        raise ConfigError(f"{field} must be one of {options}, got {value!r}"
                          f"{did_you_mean(str(value), [str(o) for o in options])}", field=field)
    return value
