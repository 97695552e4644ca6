"""Dataset correctness rules for short answers.

PopQA (Mallen et al. 2023, METHODS.md §5.3): an answer is correct when any gold alias, as written,
lower-cased or capitalised, is a substring of the prediction. No other normalisation.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import require_columns


def alias_in_answer(prediction: str, aliases: Iterable[str]) -> bool:
    """Mallen et al.'s ``is_correct``: some alias (as-is, ``lower()`` or ``capitalize()``) occurs in the
    prediction. Non-string predictions (e.g. missing) are wrong."""
    if not isinstance(prediction, str):
        return False
    for alias in aliases:
        alias = str(alias)
        if not alias:
            continue
        if alias in prediction or alias.lower() in prediction or alias.capitalize() in prediction:
            return True
    return False


def add_correctness(answers: pd.DataFrame, answer: str = "answer", gold: str = "answers",
                    out: str = "correct") -> pd.DataFrame:
    """A copy of ``answers`` with a boolean ``out`` column under the PopQA rule."""
    require_columns(answers, (answer, gold), "the answers table")
    golds = []
    for i, g in enumerate(answers[gold]):
        if isinstance(g, str):
            g = [g]
        try:
            golds.append(list(g))
        except TypeError:
            raise InputError(f"gold answers of row {i} are not a list: {g!r}", field=gold) from None
    return answers.assign(**{out: [alias_in_answer(p, g) for p, g in zip(answers[answer], golds)]})
