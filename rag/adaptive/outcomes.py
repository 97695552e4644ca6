"""Evaluating routing policies offline from per-question outcomes, as Mallen et al. do.

An *outcomes* table has one row per question: ``qid``, ``correct_recall`` and ``correct_retrieve``
(booleans from the dataset's correctness rule applied to the closed-book and the retrieval-augmented
answer), ``tokens_recall`` / ``tokens_retrieve`` (LLM tokens of each answer), and whatever a policy
reads (``relation``, ``s_pop``, signal columns, counts). :func:`bootstrap_policies` repeats a random
train/test split, fits each policy on the training part and scores it on the rest.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from rag.adaptive.policies import OUTCOME_COLUMNS, Policy
from rag.adaptive.search import hybrid_correct
from rag.core.errors import InputError
from rag.core.schema import require_columns


def outcome_table(queries: pd.DataFrame, recall: pd.DataFrame, retrieve: pd.DataFrame,
                  correct: str = "correct", tokens: tuple[str, ...] = ("prompt_tokens", "completion_tokens")
                  ) -> pd.DataFrame:
    """Join the closed-book (``recall``) and retrieval-augmented (``retrieve``) answer tables on
    ``qid`` into an outcomes table; both need a boolean ``correct`` column (see
    :func:`~rag.adaptive.correctness.add_correctness`) and the token columns."""
    for name, table in (("recall", recall), ("retrieve", retrieve)):
        require_columns(table, ("qid", correct, *tokens), f"the {name} answers")
        if table["qid"].duplicated().any():
            raise InputError(f"{name} answers have several rows for one question", field="qid")

    def part(table: pd.DataFrame, suffix: str) -> pd.DataFrame:
        out = pd.DataFrame({"qid": table["qid"].astype(str),
                            f"correct_{suffix}": table[correct].astype(bool),
                            f"answer_{suffix}": table["answer"] if "answer" in table else "",
                            f"tokens_{suffix}": table[list(tokens)].sum(axis=1).astype(float)})
        return out
    out = queries.assign(qid=queries["qid"].astype(str))
    out = out.merge(part(recall, "recall"), on="qid", how="inner").merge(part(retrieve, "retrieve"), on="qid",
                                                                           how="inner")
    if len(out) < len(queries):
        raise InputError(f"{len(queries) - len(out)} question(s) lack a closed-book or a retrieval answer",
                         field="qid")
    return out


def policy_outcome(policy: Policy, frame: pd.DataFrame) -> dict[str, float]:
    """Accuracy, retrieval rate and mean LLM tokens of an already fitted ``policy`` on ``frame``."""
    retrieve = np.asarray(policy.decide(frame), bool)
    correct = hybrid_correct(retrieve, frame["correct_recall"].to_numpy(bool), frame["correct_retrieve"].to_numpy(bool))
    tokens = policy.llm_tokens(frame, retrieve) if {"tokens_recall", "tokens_retrieve"} <= set(frame.columns) \
        else np.full(len(frame), np.nan)
    return {"accuracy": float(correct.mean()), "retrieval_rate": float(retrieve.mean()),
            "llm_tokens": float(np.mean(tokens)), "n": len(frame)}


def split_masks(n: int, n_boot: int = 100, seed: int = 633, train_fraction: float = 0.75) -> list[np.ndarray]:
    """Boolean training masks: ``round(n * train_fraction)`` training questions per bootstrap, shuffled
    with one ``numpy.random.RandomState(seed)`` across bootstraps (the notebook's procedure)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    rng = np.random.RandomState(seed)
    n_train = int(round(n * train_fraction))
    masks = []
    for _ in range(n_boot):
        mask = np.array([True] * n_train + [False] * (n - n_train))
        rng.shuffle(mask)
        masks.append(mask)
    return masks


def bootstrap_policies(outcomes: pd.DataFrame, policies: Mapping[str, Policy], n_boot: int = 100,
                       seed: int = 633, train_fraction: float = 0.75) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every policy on the training part of each bootstrap split and score it on the test part.

    Every policy sees the same splits (paired comparison). Policies are fitted with
    ``reference=outcomes`` (Mallen's popularity bins span all questions of a relation; labels of the
    test part are never read). Returns ``(summary, per_boot)``: the summary has, per policy, the mean
    test accuracy with its standard deviation and 2.5/97.5 percentiles over bootstraps, the mean
    retrieval rate and the mean LLM tokens per question.
    """
    require_columns(outcomes, ("qid", *OUTCOME_COLUMNS), "the outcomes table")
    frame = outcomes.reset_index(drop=True)
    rows = []
    for boot, mask in enumerate(split_masks(len(frame), n_boot, seed, train_fraction)):
        train, test = frame[mask], frame[~mask]
        for name, policy in policies.items():
            fitted = policy.fit(train, reference=frame)
            rows.append({"policy": name, "boot": boot, **policy_outcome(fitted, test)})
    per_boot = pd.DataFrame(rows)
    grouped = per_boot.groupby("policy", sort=False)
    summary = pd.DataFrame({
        "accuracy": grouped["accuracy"].mean(),
        "accuracy_sd": grouped["accuracy"].std(ddof=1),
        "accuracy_lo": grouped["accuracy"].quantile(0.025),
        "accuracy_hi": grouped["accuracy"].quantile(0.975),
        "retrieval_rate": grouped["retrieval_rate"].mean(),
        "llm_tokens": grouped["llm_tokens"].mean(),
        "n_test": grouped["n"].first(),
        "n_boot": grouped["boot"].nunique(),
    }).reset_index()
    return summary, per_boot


def average_precision(score: np.ndarray, label: np.ndarray) -> float:
    """Average precision of ``score`` for ranking the positive ``label`` first (R-Tuning's AP).

    Step-wise definition over distinct score thresholds (as ``sklearn.metrics.average_precision_score``):
    ``sum_k (R_k - R_{k-1}) * P_k``. NaN scores rank last; no positives gives NaN."""
    score = np.asarray(score, float)
    label = np.asarray(label, bool)
    score = np.where(np.isnan(score), -np.inf, score)
    n_pos = label.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], label[order]
    tp = np.cumsum(y)
    k = np.arange(1, len(y) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # last index of each group of tied scores
    tp, k = tp[last], k[last]
    recall = tp / n_pos
    precision = tp / k
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def abstention_curve(score: np.ndarray, correct: np.ndarray, points: int = 11) -> pd.DataFrame:
    """Selective accuracy: answer only the questions with the highest confidence.

    For coverage c in ``linspace(0, 1, points)`` (c > 0), keep the ``ceil(c * n)`` most confident
    questions (NaN confidence last) and report their accuracy; ``abstained = 1 - coverage``."""
    score = np.asarray(score, float)
    correct = np.asarray(correct, bool)
    order = np.argsort(-np.where(np.isnan(score), -np.inf, score), kind="mergesort")
    hits = np.cumsum(correct[order])
    rows = []
    for c in np.linspace(0, 1, points)[1:]:
        k = max(1, int(np.ceil(c * len(score))))
        rows.append({"coverage": round(float(c), 6), "answered": k, "accuracy": float(hits[k - 1] / k)})
    return pd.DataFrame(rows).assign(abstained=lambda d: (1 - d["coverage"]).round(6))


def signal_report(outcomes: pd.DataFrame, signals: list[str], target: str = "correct_recall") -> pd.DataFrame:
    """AP of each confidence signal for predicting ``target`` and its selective accuracy at 50% coverage."""
    rows = []
    label = outcomes[target].to_numpy(bool)
    for signal in signals:
        s = pd.to_numeric(outcomes[signal], errors="coerce").to_numpy(float)
        curve = abstention_curve(s, label, points=3)
        rows.append({"signal": signal, "AP": average_precision(s, label), "base_rate": float(label.mean()),
                     "acc@50%": float(curve["accuracy"].iloc[0]), "missing": int(np.isnan(s).sum())})
    return pd.DataFrame(rows)
