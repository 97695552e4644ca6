"""Gold answers as researchers receive them: one list of strings per question.

Data sets hand gold answers over in several shapes: a JSON list, one string, a JSON or Python list
written into a CSV cell (``["Paris", "City of Light"]``), or several answers packed into one string
with separators, as EVOUNA does (``Ken Branagh/Kenneth Branagh|Branagh``). :func:`gold_list` turns each
shape into a list of strings:

- lists (JSON, parquet, ``datasets``) stay lists, each element a string; answer records become their
  strings: SQuAD's ``{"text": [...], "answer_start": [...]}``, TriviaQA's ``{"value": ..., "aliases": [...]}``;
- with ``parse_lists`` (CSV/TSV cells), a cell that is a JSON list, or a Python list literal (what
  ``pandas.to_csv`` writes), becomes that list (read with ``json`` / :func:`ast.literal_eval`, which
  evaluates literals only);
- with ``split`` on, every gold string is cut at the separators (``True``: ``|`` and ``/``; or a string
  of separator characters such as ``"|"``), parts stripped, empty parts and repeats dropped.

Splitting is off by default, because ``/`` is part of many answers (``AC/DC``, ``1/2``, ``km/h``).
Splitting or not changes answer metrics a lot (Recall AUC against human labels moves by up to 0.23 on
public data), so a reader that keeps such strings whole counts them in a :class:`GoldReport` and warns
once per file with the counts.
"""
from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from rag.core.errors import InputError
from rag.core.fields import describe

log = logging.getLogger(__name__)

SEPARATORS = "|/"
SplitOption = Union[bool, str, None]


def separators(split: SplitOption) -> str:
    """The separator characters an option stands for ('' when splitting is off)."""
    if split is None or split is False:
        return ""
    if split is True:
        return SEPARATORS
    if isinstance(split, str) and split:
        return split
    raise InputError(f"split_gold must be true/false or a string of separator characters, got {split!r}",
                     field="split_gold")


def split_gold(text: str, chars: str = SEPARATORS) -> list[str]:
    """``"A/B|C"`` -> ``["A", "B", "C"]`` (parts stripped, empty parts and repeats dropped)."""
    parts = [text]
    for char in chars:
        parts = [piece for part in parts for piece in part.split(char)]
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def parse_list_cell(text: str) -> list[Any] | None:
    """The list a CSV cell spells as JSON (``["a", "b"]``) or as a Python literal (``['a', 'b']``), else None."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, list) else None


@dataclass
class GoldReport:
    """Counts gold strings that contain a separator while splitting is off, to warn once per source."""

    source: str | None = None
    questions: int = 0
    with_separator: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, answers: list[str]) -> None:
        hits = [a for a in answers if any(c in a for c in SEPARATORS)]
        if hits:
            self.questions += 1
            self.with_separator += len(hits)
            if len(self.examples) < 3:
                self.examples.append(hits[0])

    def warn(self, total_questions: int) -> None:
        if not self.with_separator:
            return
        shown = ", ".join(repr(e) for e in self.examples)
        log.warning("%s: %d gold answer string(s) in %d of %d question(s) contain '/' or '|' (e.g. %s) and are "
                    "kept whole; pass split_gold=True to split EVOUNA-style 'A/B|C' lists, or split_gold='|' "
                    "for one separator", self.source or "gold answers", self.with_separator, self.questions,
                    total_questions, shown)


def _answer_record(value: dict) -> list[Any]:
    """SQuAD's ``{"text": [...], "answer_start": [...]}`` or TriviaQA's ``{"value": ..., "aliases": [...]}``."""
    if "text" in value:
        text = value["text"]
        return [text] if isinstance(text, str) else list(text if text is not None else [])
    aliases = value.get("aliases")
    aliases = list(aliases) if isinstance(aliases, (list, tuple, np.ndarray)) else []
    first = [value["value"]] if isinstance(value.get("value"), str) else []
    return list(dict.fromkeys([*first, *aliases]))


def gold_list(value: Any, *, split: SplitOption = False, parse_lists: bool = False,
              report: GoldReport | None = None, path: str | Path | None = None, line: int | None = None,
              field_name: str = "answers") -> list[str]:
    """One question's gold answers as a list of strings (see the module docstring).

    ``report``: where gold strings holding a separator are counted when ``split`` is off.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        parsed = parse_list_cell(text) if parse_lists else None
        items = parsed if parsed is not None else [text]
    elif isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif isinstance(value, dict) and ("text" in value or "value" in value or "aliases" in value):
        return gold_list(_answer_record(value), split=split, parse_lists=False, report=report, path=path, line=line,
                         field_name=field_name)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        items = [value]
    else:
        raise InputError(f"gold answers must be a string or a list of strings, got {type(value).__name__} "
                         f"{value!r}"[:200], path=path, line=line, field=field_name)
    answers = []
    for item in items:
        if isinstance(item, (list, tuple, dict, np.ndarray)) or item is None:   # parquet lists arrive as arrays
            raise InputError(f"a gold answer must be a string, got {describe(item)}", path=path, line=line,
                             field=field_name)
        answers.append(str(item).strip())
    answers = [a for a in answers if a]
    chars = separators(split)
    if chars:
        return list(dict.fromkeys(part for a in answers for part in split_gold(a, chars)))
    if report is not None:
        report.note(answers)
    return answers
