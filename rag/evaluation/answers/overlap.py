"""Token-overlap metrics of Adlakha et al. (METHODS §1.4, §1.5), vectorised over a whole table.

Correctness (response vs. each gold answer, max over golds): EM, F1, Precision, Recall, Recall-S
(normalised gold is a substring of the normalised response, the reference code's ``recallem``) and
Recall-S-word (the same at token boundaries, so "art" no longer matches "party").
Faithfulness (response vs. one evidence string = the passages in the prompt joined by spaces):
K-Precision, K-Recall, K-F1 and the ``++`` variants, which first drop from the response every
token that occurs in the question (or conversation history).

Only the multiset-intersection size is computed per pair in Python (with every distinct string
normalised once); all ratios, edge cases and max-over-golds run in numpy.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from rag.evaluation.answers.text import answer_tokens, normalize_many

CORRECTNESS = ("EM", "F1", "Precision", "Recall", "Recall-S", "Recall-S-word")
FAITHFULNESS = ("K-Precision", "K-Recall", "K-F1", "K-Precision++", "K-Recall++", "K-F1++")


# ------------------------------------------------------------------ per-pair reference definitions
def f1_tokens(pred: list[str], gold: list[str]) -> float:
    """SQuAD F1 of two token lists (1 iff both empty when either is empty)."""
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)


def precision_tokens(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    return common / len(pred) if pred and common else 0.0


def recall_tokens(pred: list[str], gold: list[str]) -> float:
    if not gold:
        return 1.0
    common = sum((Counter(pred) & Counter(gold)).values())
    return common / len(gold) if common else 0.0


# ------------------------------------------------------------------ vectorised arithmetic
def _ratios(common: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 with the reference code's edge cases, element-wise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where((n_pred > 0) & (common > 0), common / np.maximum(n_pred, 1), 0.0)
        r = np.where(n_gold == 0, 1.0, np.where(common > 0, common / np.maximum(n_gold, 1), 0.0))
        pr = common / np.maximum(n_pred, 1)
        rr = common / np.maximum(n_gold, 1)
        f1 = np.where(common > 0, 2 * pr * rr / np.where(pr + rr > 0, pr + rr, 1.0), 0.0)
    either_empty = (n_pred == 0) | (n_gold == 0)
    f1 = np.where(either_empty, ((n_pred == 0) & (n_gold == 0)).astype(float), f1)
    return {"precision": p, "recall": r, "f1": f1}


class _TokenCache:
    """Normalised string, token Counter and length of each distinct raw string."""

    def __init__(self, texts: Sequence[str]):
        self.norm = normalize_many(texts)
        self._counts: dict[str, Counter] = {}

    def counts(self, raw: str) -> Counter:
        norm = self.norm[raw]
        c = self._counts.get(norm)
        if c is None:
            c = self._counts[norm] = Counter(norm.split())
        return c


def _common(small: Counter, large: Counter) -> int:
    return sum(min(n, large[t]) for t, n in small.items() if t in large)


def _as_str(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def correctness_scores(responses: Sequence[str], golds: Sequence[Sequence[str]]) -> pd.DataFrame:
    """EM, F1, Precision, Recall, Recall-S, Recall-S-word of each response (max over its golds).

    A row without any gold answer cannot be scored and raises ``ValueError`` naming the row.
    """
    responses = [_as_str(r) for r in responses]
    gold_lists = [[_as_str(g) for g in gs] for gs in golds]
    if len(responses) != len(gold_lists):
        raise ValueError(f"{len(responses)} responses but {len(gold_lists)} gold lists")
    for i, gs in enumerate(gold_lists):
        if not gs:
            raise ValueError(f"row {i} has no gold answer")
    cache = _TokenCache(responses + [g for gs in gold_lists for g in gs])
    lengths = np.array([len(gs) for gs in gold_lists])
    n_pairs = int(lengths.sum())
    common = np.empty(n_pairs)
    n_pred = np.empty(n_pairs)
    n_gold = np.empty(n_pairs)
    em = np.empty(n_pairs)
    sub = np.empty(n_pairs)
    word = np.empty(n_pairs)
    j = 0
    for resp, gs in zip(responses, gold_lists):
        pc = cache.counts(resp)
        pn = cache.norm[resp]
        np_len = sum(pc.values())
        padded = f" {pn} "
        for g in gs:
            gc = cache.counts(g)
            gn = cache.norm[g]
            common[j] = _common(gc, pc)
            n_pred[j] = np_len
            n_gold[j] = sum(gc.values())
            em[j] = pn == gn
            sub[j] = gn in pn
            word[j] = (f" {gn} " in padded) if gn else 1.0
            j += 1
    ratios = _ratios(common, n_pred, n_gold)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    best = lambda a: np.maximum.reduceat(a, starts) if n_pairs else np.empty(0)  # noqa: E731
    return pd.DataFrame({"EM": best(em), "F1": best(ratios["f1"]), "Precision": best(ratios["precision"]),
                         "Recall": best(ratios["recall"]), "Recall-S": best(sub), "Recall-S-word": best(word)})


def faithfulness_scores(responses: Sequence[str], evidence: Sequence[str],
                        questions: Sequence[str] | None = None) -> pd.DataFrame:
    """K-Precision, K-Recall, K-F1 (and the ``++`` variants when ``questions`` is given) per response.

    ``evidence`` is one string per response (the passages in the prompt joined by spaces);
    ``questions`` the question, or the whole conversation history and question, as one string.
    """
    responses = [_as_str(r) for r in responses]
    evidence = [_as_str(e) for e in evidence]
    if len(responses) != len(evidence):
        raise ValueError(f"{len(responses)} responses but {len(evidence)} evidence strings")
    texts = responses + evidence + ([_as_str(q) for q in questions] if questions is not None else [])
    cache = _TokenCache(texts)
    n = len(responses)
    common, n_pred, n_ev = np.empty(n), np.empty(n), np.empty(n)
    common2, n_pred2, empty2 = np.empty(n), np.empty(n), np.zeros(n, dtype=bool)
    for i, (resp, ev) in enumerate(zip(responses, evidence)):
        pc, kc = cache.counts(resp), cache.counts(ev)
        common[i] = _common(pc, kc)
        n_pred[i] = sum(pc.values())
        n_ev[i] = sum(kc.values())
        if questions is not None:
            qset = set(cache.norm[_as_str(questions[i])].split())
            kept = Counter({t: c for t, c in pc.items() if t not in qset})
            common2[i] = _common(kept, kc)
            n_pred2[i] = sum(kept.values())
            empty2[i] = n_pred2[i] == 0
    base = _ratios(common, n_pred, n_ev)
    out = {"K-Precision": base["precision"], "K-Recall": base["recall"], "K-F1": base["f1"]}
    if questions is not None:
        plus = _ratios(common2, n_pred2, n_ev)
        out["K-Precision++"] = np.where(empty2, 1.0, plus["precision"])
        out["K-Recall++"] = np.where(empty2, 1.0, plus["recall"])
        out["K-F1++"] = np.where(empty2, 1.0, plus["f1"])
    return pd.DataFrame(out)


def reference_correctness(response: str, golds: Sequence[str]) -> dict[str, float]:
    """The same scores computed the obvious way, one pair at a time (for tests and benchmarks)."""
    pred = answer_tokens(response)
    pn = " ".join(pred)
    rows = []
    for g in golds:
        gold = answer_tokens(g)
        gn = " ".join(gold)
        rows.append({"EM": float(pred == gold), "F1": f1_tokens(pred, gold),
                     "Precision": precision_tokens(pred, gold), "Recall": recall_tokens(pred, gold),
                     "Recall-S": float(gn in pn), "Recall-S-word": float(f" {gn} " in f" {pn} ") if gn else 1.0})
    return {k: max(r[k] for r in rows) for k in rows[0]}
