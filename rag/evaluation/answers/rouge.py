"""ROUGE-1/2/L F-measure as computed by Google's ``rouge-score`` (which HF ``evaluate`` wraps).

Tokenisation: lower-case, every run of characters outside ``[a-z0-9]`` becomes a space, tokens are
the non-empty pieces; no stemming (the reference setting). With several references the score is
that of the reference with the best F-measure (``score_multi``). Empty either side -> 0.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    return _NON_ALNUM.sub(" ", str(text or "").lower()).split()


def _f(overlap: int, n_pred: int, n_ref: int) -> float:
    if n_pred == 0 or n_ref == 0 or overlap == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programme, one row at a time)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_pair(pred: list[str], ref: list[str]) -> dict[str, float]:
    out = {}
    for n in (1, 2):
        pg, rg = _ngrams(pred, n), _ngrams(ref, n)
        out[f"ROUGE-{n}"] = _f(sum((pg & rg).values()), sum(pg.values()), sum(rg.values()))
    out["ROUGE-L"] = _f(lcs_length(pred, ref), len(pred), len(ref))
    return out


def rouge_scores(responses: Sequence[str], golds: Sequence[Sequence[str]]) -> pd.DataFrame:
    """ROUGE-1, ROUGE-2, ROUGE-L F-measure per response; each type takes its best reference."""
    rows = []
    for resp, gs in zip(responses, golds):
        pred = rouge_tokens(resp)
        pairs = [rouge_pair(pred, rouge_tokens(g)) for g in gs] or [{"ROUGE-1": 0.0, "ROUGE-2": 0.0, "ROUGE-L": 0.0}]
        rows.append({k: max(p[k] for p in pairs) for k in pairs[0]})
    return pd.DataFrame(rows, columns=["ROUGE-1", "ROUGE-2", "ROUGE-L"]).astype(np.float64)
