"""SQuAD answer normalisation shared by every token metric (METHODS §1.3).

Lower-case, delete every character of ``string.punctuation``, replace the whole words a/an/the by a
space, collapse whitespace. Tokens are the whitespace split of the result. No unicode folding, no
stemming: exactly the recipe of the reference code.
"""
from __future__ import annotations

import re
import string
from typing import Iterable


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


_PUNCT_BYTES = string.punctuation.encode()
_ARTICLE_WORDS = frozenset(("a", "an", "the"))


def _fast_normalize(text: str) -> str:
    """Same result as :func:`normalize_answer`, faster: ASCII text is stripped of punctuation with a
    bytes translation, and the article regex runs only on tokens that are not plain ASCII words
    (for an ASCII alphanumeric token ``\\b(a|an|the)\\b`` can only match the whole token)."""
    text = text.lower()
    if text.isascii():
        text = text.encode().translate(None, _PUNCT_BYTES).decode()
    else:
        text = text.translate(_PUNCT_TABLE)
    out = []
    for tok in text.split():
        if tok in _ARTICLE_WORDS:
            continue
        if tok.isascii() and tok.isalnum():
            out.append(tok)
        else:
            out.extend(_ARTICLES.sub(" ", tok).split())
    return " ".join(out)


def normalize_many(texts: Iterable[str | None]) -> dict[str, str]:
    """Normalised form of each distinct string (each computed once)."""
    out: dict[str, str] = {}
    for t in texts:
        key = "" if t is None else str(t)
        if key not in out:
            out[key] = _fast_normalize(key)
    return out
