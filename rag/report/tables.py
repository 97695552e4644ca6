"""Plain-text tables for experiment scripts (Markdown without extra dependencies), and the CSV tables of a
results folder read back exactly."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from rag.core.errors import InputError


def markdown_table(frame: pd.DataFrame, digits: int = 3, index: bool = False) -> str:
    """A GitHub-flavoured Markdown table; floats with ``digits`` decimals, numbers right-aligned."""
    table = frame.reset_index() if index else frame

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    lines = ["| " + " | ".join(str(c) for c in table.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


TEXT_COLUMNS = ("system", "measure", "qid")


def read_table(path: Path, required: Sequence[str] = ("system",)) -> pd.DataFrame:
    """A CSV of a results folder with names and ids read back exactly (a system called ``NA`` or ``null``, a
    query ``nan``: never parsed as missing); other columns are numbers, an empty cell is missing."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable results table ({str(exc).splitlines()[0]})", path=path) from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"a results table needs column(s) {missing}; it has {list(frame.columns)[:8]}", path=path,
                         field=missing[0])
    for column in frame.columns:
        if column in TEXT_COLUMNS:
            continue
        values = frame[column]
        numbers = pd.to_numeric(values.where(values != ""), errors="coerce")
        if numbers.notna().sum() == (values != "").sum():
            frame[column] = numbers
        else:   # e.g. significant = True/False, or a text column of a newer ragif
            frame[column] = values.where(values != "")
    return frame


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key for ids in natural order: ``q2`` before ``q10``, numbers compared as numbers."""
    text = str(text)
    parts = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text) if part)
    return parts, text


def natural_order(values: Sequence[str]) -> list[str]:
    """The distinct ``values`` in natural order (:func:`natural_key`)."""
    return sorted(dict.fromkeys(map(str, values)), key=natural_key)
