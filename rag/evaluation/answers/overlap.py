"""Token-overlap metrics of Adlakha et al. (METHODS §1.4, §1.5), vectorised over a whole table.

Correctness (response vs. each gold answer, max over golds): EM, F1, Precision, Recall, Recall-S
(normalised gold is a substring of the normalised response, the reference code's ``recallem``) and
Recall-S-word (the same at token boundaries, so "art" no longer matches "party").
Faithfulness (response vs. one evidence string = the passages in the prompt joined by spaces):
K-Precision, K-Recall, K-F1 and the ``++`` variants, which first drop from the response every
token that occurs in the question (or conversation history).

Every distinct string is normalised once, all strings in one pass (:mod:`rag.evaluation.answers.text`). Per pair
only the multiset-intersection size is computed in Python: for each distinct token of the short side
(gold answer, response) a C-level count in the long side's :class:`~rag.evaluation.answers.text.Spaced` text, so the
long side is never split into tokens. All ratios, edge cases and max-over-golds run in numpy; only the
metrics asked for are computed.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from rag.evaluation.answers.text import Spaced, answer_tokens, normalize_many, spaced_many

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


def _counts(norms: Iterable[str]) -> dict[str, Counter]:
    """Counter of the space-padded tokens (``" tok "``, ready to look up in a :class:`Spaced` text) of each
    distinct normalised string."""
    return {n: Counter([f" {t} " for t in n.split()]) for n in dict.fromkeys(norms)}


def _common(small: Counter, large: Spaced) -> int:
    """Size of the multiset intersection of ``small``'s padded tokens and ``large``'s tokens."""
    total = 0
    text = large.text
    for padded, n in small.items():
        if n == 1:
            total += padded in text
        else:
            found = text.count(padded)
            total += n if n < found else found
    return total


def _common_kept(small: Counter, dropped: Counter, large: Spaced) -> tuple[int, int]:
    """(intersection size, tokens kept) of ``small`` without the tokens of ``dropped`` against ``large``."""
    total = kept = 0
    text = large.text
    for padded, n in small.items():
        if padded in dropped:
            continue
        kept += n
        if n == 1:
            total += padded in text
        else:
            found = text.count(padded)
            total += n if n < found else found
    return total, kept


def _strings(values: Iterable) -> list[str]:
    return [v if type(v) is str else _as_str(v) for v in values]


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
    responses = _strings(responses)
    gold_lists = [gs if type(gs) is list and all(type(g) is str for g in gs) else _strings(gs) for gs in golds]
    if len(responses) != len(gold_lists):
        raise ValueError(f"{len(responses)} responses but {len(gold_lists)} gold lists")
    lengths = np.fromiter(map(len, gold_lists), dtype=np.int64, count=len(gold_lists))
    if len(lengths) and not lengths.all():
        raise ValueError(f"row {int(np.argmin(lengths))} has no gold answer")
    gold_norm = normalize_many(g for gs in gold_lists for g in gs)
    gold = [gold_norm[g] for gs in gold_lists for g in gs]                   # one entry per (response, gold)
    raw_pred = [r for r, gs in zip(responses, gold_lists) for _ in gs]
    n_pairs = len(gold)
    columns: dict[str, np.ndarray] = {}
    if {"EM", "Recall-S", "Recall-S-word"} & set(wanted):
        pred_norm = normalize_many(responses)
        pred = [pred_norm[r] for r in raw_pred]
        if "EM" in wanted:
            columns["EM"] = np.fromiter(map(str.__eq__, pred, gold), dtype=np.float64, count=n_pairs)
        if "Recall-S" in wanted:
            columns["Recall-S"] = np.fromiter(map(str.__contains__, pred, gold), dtype=np.float64, count=n_pairs)
        if "Recall-S-word" in wanted:
            columns["Recall-S-word"] = np.fromiter(
                ((f" {g} " in f" {p} ") if g else True for p, g in zip(pred, gold)), dtype=np.float64,
                count=n_pairs)
    ratio_names = {"F1": "f1", "Precision": "precision", "Recall": "recall"}
    if set(ratio_names) & set(wanted):
        spaced = spaced_many(responses)
        counts = _counts(gold_norm.values())
        gold_counts = [counts[g] for g in gold]
        pred_spaced = [spaced[r] for r in raw_pred]
        common = np.fromiter(map(_common, gold_counts, pred_spaced), dtype=np.float64, count=n_pairs)
        n_pred = np.fromiter((p.n_tokens for p in pred_spaced), dtype=np.float64, count=n_pairs)
        n_gold = np.fromiter(map(Counter.total, gold_counts), dtype=np.float64, count=n_pairs)
        ratios = _ratios(common, n_pred, n_gold)
        for name, key in ratio_names.items():
            if name in wanted:
                columns[name] = ratios[key]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    best = lambda a: np.maximum.reduceat(a, starts) if n_pairs else np.empty(0)  # noqa: E731
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
    responses = _strings(responses)
    evidence = _strings(evidence)
    if len(responses) != len(evidence):
        raise ValueError(f"{len(responses)} responses but {len(evidence)} evidence strings")
    plus = [m for m in wanted if m.endswith("++")]
    qs = _strings(questions) if plus else []
    norm = normalize_many(responses + qs)
    counts = _counts(norm.values())
    spaced = spaced_many(evidence)
    n = len(responses)
    out: dict[str, np.ndarray] = {}
    n_ev = np.fromiter((spaced[e].n_tokens for e in evidence), dtype=np.float64, count=n)
    if set(wanted) - set(plus):
        pcs = [counts[norm[r]] for r in responses]
        common = np.fromiter(map(_common, pcs, map(spaced.__getitem__, evidence)), dtype=np.float64, count=n)
        n_pred = np.fromiter((pc.total() for pc in pcs), dtype=np.float64, count=n)
        base = _ratios(common, n_pred, n_ev)
        out.update({"K-Precision": base["precision"], "K-Recall": base["recall"], "K-F1": base["f1"]})
    if plus:
        kept = [_common_kept(counts[norm[r]], counts[norm[q]], spaced[e]) for r, e, q in zip(responses, evidence, qs)]
        common2 = np.fromiter((k[0] for k in kept), dtype=np.float64, count=n)
        n_pred2 = np.fromiter((k[1] for k in kept), dtype=np.float64, count=n)
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
