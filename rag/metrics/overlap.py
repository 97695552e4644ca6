"""Token-overlap metrics of Adlakha et al. (METHODS §1.4, §1.5), vectorised over a whole table.

Correctness (response vs. each gold answer, max over golds): EM, F1, Precision, Recall, Recall-S
(normalised gold is a substring of the normalised response, the reference code's ``recallem``) and
Recall-S-word (the same at token boundaries, so "art" no longer matches "party").
Faithfulness (response vs. one evidence string = the passages in the prompt joined by spaces):
K-Precision, K-Recall, K-F1 and the ``++`` variants, which first drop from the response every
token that occurs in the question (or conversation history).

Every distinct string is normalised once, all strings in one pass (:mod:`rag.metrics.text`). Per pair
only the multiset-intersection size is computed in Python: for each distinct token of the short side
(gold answer, response) a C-level count in the long side's :class:`~rag.metrics.text.Spaced` text, so the
long side is never split into tokens. All ratios, edge cases and max-over-golds run in numpy; only the
metrics asked for are computed.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd

from .text import Spaced, answer_tokens, normalize_many, spaced_many, spaced_normalized

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


def _counts(norm: dict[str, str]) -> dict[str, Counter]:
    """Token Counter of each distinct normalised string."""
    out: dict[str, Counter] = {}
    for n in norm.values():
        if n not in out:
            out[n] = Counter(n.split())
    return out


def _common(small: Counter, large: Spaced) -> int:
    """Size of the multiset intersection of ``small``'s tokens and ``large``'s tokens."""
    total = 0
    text = large.text
    for token, n in small.items():
        found = text.count(f" {token} ")
        total += n if n < found else found
    return total


def _as_str(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _wanted(metrics: Sequence[str] | None, known: tuple[str, ...]) -> list[str]:
    if metrics is None:
        return list(known)
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(known)}")
    return list(dict.fromkeys(metrics))


def correctness_scores(responses: Sequence[str], golds: Sequence[Sequence[str]],
                       metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """EM, F1, Precision, Recall, Recall-S, Recall-S-word of each response (max over its golds); only
    ``metrics`` when given (the others are not computed).

    A row without any gold answer cannot be scored and raises ``ValueError`` naming the row.
    """
    wanted = _wanted(metrics, CORRECTNESS)
    responses = [_as_str(r) for r in responses]
    gold_lists = [[_as_str(g) for g in gs] for gs in golds]
    if len(responses) != len(gold_lists):
        raise ValueError(f"{len(responses)} responses but {len(gold_lists)} gold lists")
    for i, gs in enumerate(gold_lists):
        if not gs:
            raise ValueError(f"row {i} has no gold answer")
    norm = normalize_many(responses + [g for gs in gold_lists for g in gs])
    lengths = np.array([len(gs) for gs in gold_lists], dtype=np.int64)
    pairs = [(r, g) for r, gs in zip(responses, gold_lists) for g in gs]
    columns: dict[str, np.ndarray] = {}
    if "EM" in wanted:
        columns["EM"] = np.fromiter((norm[r] == norm[g] for r, g in pairs), dtype=np.float64, count=len(pairs))
    if "Recall-S" in wanted:
        columns["Recall-S"] = np.fromiter((norm[g] in norm[r] for r, g in pairs), dtype=np.float64, count=len(pairs))
    if "Recall-S-word" in wanted:
        columns["Recall-S-word"] = np.fromiter(
            ((f" {norm[g]} " in f" {norm[r]} ") if norm[g] else True for r, g in pairs), dtype=np.float64,
            count=len(pairs))
    ratio_names = {"F1": "f1", "Precision": "precision", "Recall": "recall"}
    if set(ratio_names) & set(wanted):
        spaced = {norm[r]: spaced_normalized(norm[r]) for r in dict.fromkeys(responses)}
        counts = _counts({g: norm[g] for gs in gold_lists for g in gs})
        common = np.empty(len(pairs))
        n_pred = np.empty(len(pairs))
        n_gold = np.empty(len(pairs))
        for j, (r, g) in enumerate(pairs):
            rs, gc = spaced[norm[r]], counts[norm[g]]
            common[j] = _common(gc, rs)
            n_pred[j] = rs.n_tokens
            n_gold[j] = gc.total()
        ratios = _ratios(common, n_pred, n_gold)
        for name, key in ratio_names.items():
            if name in wanted:
                columns[name] = ratios[key]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    best = lambda a: np.maximum.reduceat(a, starts) if len(pairs) else np.empty(0)  # noqa: E731
    return pd.DataFrame({m: best(columns[m]) for m in wanted})


def faithfulness_scores(responses: Sequence[str], evidence: Sequence[str],
                        questions: Sequence[str] | None = None, metrics: Sequence[str] | None = None
                        ) -> pd.DataFrame:
    """K-Precision, K-Recall, K-F1 (and the ``++`` variants when ``questions`` is given) per response;
    only ``metrics`` when given.

    ``evidence`` is one string per response (the passages in the prompt joined by spaces);
    ``questions`` the question, or the whole conversation history and question, as one string.
    """
    known = FAITHFULNESS if questions is not None else FAITHFULNESS[:3]
    if metrics is not None and questions is None and set(metrics) - set(known):
        raise ValueError(f"{sorted(set(metrics) - set(known))} need the questions")
    wanted = _wanted(metrics, known)
    responses = [_as_str(r) for r in responses]
    evidence = [_as_str(e) for e in evidence]
    if len(responses) != len(evidence):
        raise ValueError(f"{len(responses)} responses but {len(evidence)} evidence strings")
    plus = [m for m in wanted if m.endswith("++")]
    qs = [_as_str(q) for q in questions] if plus else []
    norm = normalize_many(responses + qs)
    counts = _counts(norm)
    spaced = spaced_many(evidence)
    n = len(responses)
    out: dict[str, np.ndarray] = {}
    n_ev = np.fromiter((spaced[e].n_tokens for e in evidence), dtype=np.float64, count=n)
    if set(wanted) - set(plus):
        common, n_pred = np.empty(n), np.empty(n)
        for i, (resp, ev) in enumerate(zip(responses, evidence)):
            pc = counts[norm[resp]]
            common[i] = _common(pc, spaced[ev])
            n_pred[i] = pc.total()
        base = _ratios(common, n_pred, n_ev)
        out.update({"K-Precision": base["precision"], "K-Recall": base["recall"], "K-F1": base["f1"]})
    if plus:
        common2, n_pred2 = np.empty(n), np.empty(n)
        for i, (resp, ev, q) in enumerate(zip(responses, evidence, qs)):
            qset = counts[norm[q]]
            kept = Counter({t: c for t, c in counts[norm[resp]].items() if t not in qset})
            common2[i] = _common(kept, spaced[ev])
            n_pred2[i] = kept.total()
        empty2 = n_pred2 == 0
        ratios = _ratios(common2, n_pred2, n_ev)
        out["K-Precision++"] = np.where(empty2, 1.0, ratios["precision"])
        out["K-Recall++"] = np.where(empty2, 1.0, ratios["recall"])
        out["K-F1++"] = np.where(empty2, 1.0, ratios["f1"])
    return pd.DataFrame({m: out[m] for m in wanted})


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
