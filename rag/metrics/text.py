"""SQuAD answer normalisation shared by every token metric (METHODS §1.3).

Lower-case, delete every character of ``string.punctuation``, replace the whole words a/an/the by a
space, collapse whitespace. Tokens are the whitespace split of the result. No unicode folding, no
stemming: exactly the recipe of the reference code.
"""
from __future__ import annotations

import re
import string
from typing import Iterable

import pandas as pd

_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str | None) -> str:
    """The normalised form of one string (``None`` -> ``""``)."""
    if text is None:
        return ""
    text = str(text).lower().translate(_PUNCT_TABLE)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str | None) -> list[str]:
    """Tokens of the normalised string."""
    return normalize_answer(text).split()


def normalize_many(texts: Iterable[str | None]) -> dict[str, str]:
    """Normalised form of each distinct string, computed once per distinct value (vectorised)."""
    unique = pd.unique(pd.Series([("" if t is None else str(t)) for t in texts], dtype="object"))
    if len(unique) == 0:
        return {}
    s = pd.Series(unique, dtype="object").str.lower().str.translate(_PUNCT_TABLE)
    s = s.str.replace(_ARTICLES, " ", regex=True).str.split().str.join(" ")
    return dict(zip(unique.tolist(), s.tolist()))
