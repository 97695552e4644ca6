"""Spreadsheet-safe copies of the CSV tables of a results folder (CSV injection, OWASP's "CSV Injection").

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a line break is run as a formula by Excel,
LibreOffice and Google Sheets when the CSV is opened, and query ids, document ids, system names and
answers come from data sets and configs that someone else controls (``=HYPERLINK(...)``, ``=cmd|...``).

The defence keeps two files per table:

- ``results.csv``, ``per_query.csv``, ``significance.csv`` stay exact: they are data, read back by
  ``ragif board``, pandas and any script, and a prefix would change the names they carry;
- ``results.xlsx-safe.csv`` (and the same for the other two) is the copy to open in a spreadsheet: every text
  cell that begins with one of those characters gets a leading ``'`` (OWASP's recommendation: the
  spreadsheet then shows it as text), numbers are left alone (``-0.25`` is a value, not a formula), and every
  cell is quoted.

>>> escape_cell("=1+1"), escape_cell("-0.25"), escape_cell("-1+2"), escape_cell("q1")
("'=1+1", '-0.25', "'-1+2", 'q1')
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from rag.core.atomic import atomic_write_text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
SUFFIX = ".xlsx-safe.csv"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)


def escape_cell(value: object) -> object:
    """``value`` with a leading ``'`` when it is text that a spreadsheet would run as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START) or _NUMBER.fullmatch(value):
        return value
    return "'" + value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name escaped by :func:`escape_cell`."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].map(lambda v: escape_cell(v if not isinstance(v, (list, tuple, dict))
                                                                 else str(v)))
    out.columns = [escape_cell(str(c)) for c in out.columns]
    return out


def safe_path(path: str | Path) -> Path:
    """``results.csv`` -> ``results.xlsx-safe.csv``."""
    path = Path(path)
    return path.with_name(path.name[: -len(path.suffix)] + SUFFIX if path.suffix else path.name + SUFFIX)


def write_spreadsheet_copy(frame: pd.DataFrame, path: str | Path, float_format: str = "%.6f") -> Path:
    """Write the spreadsheet-safe copy of the table written to ``path`` beside it (atomically)."""
    target = safe_path(path)
    atomic_write_text(target, spreadsheet_safe(frame).to_csv(index=False, float_format=float_format,
                                                             quoting=csv.QUOTE_NONNUMERIC))
    return target
