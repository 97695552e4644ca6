"""The type rule for fields read from data files: every loader checks each field it reads with these, so a
value of the wrong type is one line naming the file, the line (or record) and the field, never text made
with ``str()`` of a structure (a parquet struct column sent to an LLM as ``"{'text': ..., 'lang': ...}"``)
or an error deep inside a stage (``The truth value of an array is ambiguous``).

- :func:`text_value`: a string; an integer or a finite float is written out as digits (a question ``1984``);
  objects, lists, booleans, ``inf`` and bytes that are not UTF-8 are refused; missing (``None``, ``NaN``)
  is an error or ``""`` when the field is optional;
- :func:`number_value`: a finite number (or a string that spells one); booleans refused;
- :func:`text_column`: the same rule over a DataFrame column (the backstop of in-memory tables).

Ids have their own rule (:func:`rag.core.schema.check_id`) and gold answers theirs
(:func:`rag.datasets.gold.gold_list`).

>>> text_value("What is ragif?", "q.jsonl", 1, "text")
'What is ragif?'
>>> text_value({"text": "hi", "lang": "en"}, "q.parquet", 3, "question")
Traceback (most recent call last):
...
rag.core.errors.InputError: q.parquet:3 field 'question': must be text, got an object {'text': 'hi', 'lang': 'en'}
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rag.core.errors import InputError

Where = tuple[str | Path | None, int | None, str | None]


def describe(value: Any, width: int = 60) -> str:
    """``an object {...}``, ``a list [...]``, ``a boolean True``: what a value is, shortly."""
    if isinstance(value, Mapping):
        kind = "an object"
    elif isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        kind = "a list"
        value = list(value)
    elif isinstance(value, (bool, np.bool_)):
        kind = "a boolean"
    elif isinstance(value, (bytes, bytearray)):
        kind = "bytes"
    elif isinstance(value, numbers.Number):
        kind = "the number"
    else:
        kind = f"a {type(value).__name__}"
    text = repr(value)
    return f"{kind} {text if len(text) <= width else text[: width - 3] + '...'}"


def is_missing(value: Any) -> bool:
    """``None``, ``pd.NA`` or a float NaN (how missing cells arrive from JSON, CSV, parquet and pandas)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def text_value(value: Any, path: str | Path | None = None, line: int | None = None, field: str | None = None,
               required: bool = True, what: str = "text") -> str:
    """``value`` as text, or :class:`InputError` naming ``path``, ``line`` and ``field`` (the rule above)."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        if required:
            raise InputError(f"{what} is missing", path=path, line=line, field=field)
        return ""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{what} is bytes that are not UTF-8", path=path, line=line, field=field) from None
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value):
        return repr(float(value))
    raise InputError(f"must be {what}, got {describe(value)}", path=path, line=line, field=field)


def number_value(value: Any, path: str | Path | None = None, line: int | None = None, field: str | None = None,
                 what: str = "value") -> float:
    """``value`` as a finite float (a string that spells one is read), or :class:`InputError`."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(f"{what} {value[:60]!r} is not a number", path=path, line=line, field=field) from None
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number, got {describe(value)}", path=path, line=line, field=field)
    number = float(number)
    if not math.isfinite(number):
        raise InputError(f"{what} {value!r} is not a finite number", path=path, line=line, field=field)
    return number


def text_column(values: pd.Series, field: str, source: str | None = None, required: bool = True,
                ids: pd.Series | None = None) -> pd.Series:
    """A column of text checked by :func:`text_value` (the error names the row and its query id); missing
    cells of an optional column stay missing."""
    if len(values) == 0 or pd.api.types.infer_dtype(values, skipna=not required) == "string":
        return values
    out = values.tolist()
    for row, value in enumerate(out):
        if not required and is_missing(value):
            out[row] = None
            continue
        try:
            out[row] = text_value(value, field=field, what=f"{field} text")
        except InputError as exc:
            who = f" (query id {ids.iloc[row]!r})" if ids is not None else ""
            raise InputError(f"row {row + 1}{who}: {exc.reason}", path=source, field=field) from None
    return pd.Series(out, index=values.index, dtype=object)
