"""METEOR (Banerjee & Lavie 2005) as NLTK's ``meteor_score`` computes it, re-implemented offline.

Per reference: lower-case tokens; align exact matches, then Porter-stem matches of what is left
(each stage pairs words greedily from the end of both lists), then (only when a synonym function
is given) WordNet synonyms. With m matches, P = m/|hyp|, R = m/|ref|,
Fmean = P·R / (α·P + (1−α)·R), chunks = runs of matches adjacent in both strings,
penalty = γ·(chunks/m)^β, score = (1 − penalty)·Fmean (0 when m = 0). Several references: the best.
Defaults α=0.9, β=3, γ=0.5 (NLTK). NLTK's WordNet data cannot be fetched here, so the default runs
the exact and stem stages only (:data:`STAGES` says which ran); tokenisation splits words and
punctuation with a regular expression (an approximation of NLTK's ``word_tokenize``).
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import pandas as pd

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _porter() -> Callable[[str], str] | None:
    try:
        import Stemmer  # PyStemmer
    except ImportError:
        return None
    stemmer = Stemmer.Stemmer("porter")
    return stemmer.stemWord


_STEM = _porter()
STAGES = ("exact", "stem") if _STEM is not None else ("exact",)


def meteor_tokens(text: str) -> list[str]:
    return _TOKEN.findall(str(text or "").lower())


def _align(hyp: list[tuple[int, str]], ref: list[tuple[int, str]],
           same: Callable[[str, str], bool]) -> list[tuple[int, int]]:
    """Greedy alignment from the end of both lists; removes matched words from ``hyp``/``ref``."""
    matches = []
    for i in range(len(hyp) - 1, -1, -1):
        for j in range(len(ref) - 1, -1, -1):
            if same(hyp[i][1], ref[j][1]):
                matches.append((hyp[i][0], ref[j][0]))
                hyp.pop(i)
                ref.pop(j)
                break
    return matches


def _chunks(matches: list[tuple[int, int]]) -> int:
    chunks, i = 1, 0
    while i < len(matches) - 1:
        if matches[i + 1][0] == matches[i][0] + 1 and matches[i + 1][1] == matches[i][1] + 1:
            i += 1
            continue
        i += 1
        chunks += 1
    return chunks


def meteor_pair(hyp_tokens: list[str], ref_tokens: list[str], alpha: float = 0.9, beta: float = 3.0,
                gamma: float = 0.5, stem: Callable[[str], str] | None = _STEM,
                synonyms: Callable[[str, str], bool] | None = None) -> float:
    hyp = list(enumerate(hyp_tokens))
    ref = list(enumerate(ref_tokens))
    matches = _align(hyp, ref, lambda a, b: a == b)
    if stem is not None:
        matches += _align(hyp, ref, lambda a, b: stem(a) == stem(b))
    if synonyms is not None:
        matches += _align(hyp, ref, synonyms)
    m = len(matches)
    if m == 0:
        return 0.0
    matches.sort(key=lambda pair: pair[0])
    p, r = m / len(hyp_tokens), m / len(ref_tokens)
    fmean = p * r / (alpha * p + (1 - alpha) * r)
    penalty = gamma * (_chunks(matches) / m) ** beta
    return (1 - penalty) * fmean


def meteor_scores(responses: Sequence[str], golds: Sequence[Sequence[str]], **params) -> pd.Series:
    """METEOR per response: the best over its references."""
    values = []
    for resp, gs in zip(responses, golds):
        hyp = meteor_tokens(resp)
        values.append(max((meteor_pair(hyp, meteor_tokens(g), **params) for g in gs), default=0.0))
    return pd.Series(values, name="METEOR", dtype="float64")
