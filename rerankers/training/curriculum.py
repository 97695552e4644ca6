"""Difficulty curricula for training rerankers (MacAvaney et al., SIGIR 2020; METHODS.md §3).

Every function here is pure (numbers in, numbers out) so it can be checked by hand.

1. An "ease-if-relevant" value ``v(q, d)`` in [0, 1] from the first-stage (BM25) run of ``q``
   (:func:`ease_values`, heuristics :data:`HEURISTICS`):
   ``reciprank`` 1/rank (1-based; documents absent from the run get rank 1000),
   ``normscore`` (s - min_q) / (max_q - min_q) over the run's scores of q,
   ``kdescore`` the CDF at s of a Gaussian KDE (Scott bandwidth) fitted on the run's scores of q.
2. Difficulty weights: pointwise ``D = v`` for a relevant document, ``1 - v`` otherwise, plus 1e-8
   (:func:`pointwise_weights`); pairwise ``D = (v+ - v- + 1) / 2`` (+1e-8), the minimum over the
   negatives when there are several (:func:`pairwise_weights`). ``anti=True`` gives ``1 - D``.
3. Annealing to uniform by iteration ``m`` (default 20): ``W = D (1 - i/m) + i/m`` for ``i < m``, then 1
   (:func:`anneal`); ``m <= 0`` never anneals.
4. Applying ``W`` to a batch (:func:`weighted_loss`): ``"batch-mean"`` (OpenNIR's code, the default:
   mean loss x mean W), ``"per-sample"`` (mean of W_i x loss_i) or ``"normalised"``
   (sum W_i loss_i / sum W_i).
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from rag.core.errors import ConfigError, did_you_mean

HEURISTICS = ("none", "reciprank", "normscore", "kdescore")
WEIGHTINGS = ("batch-mean", "per-sample", "normalised")
MISSING_RANK = 1000
SMOOTH = 1e-8
DEFAULT_END_OF_CURRICULUM = 20

Heuristic = Literal["none", "reciprank", "normscore", "kdescore"]
Weighting = Literal["batch-mean", "per-sample", "normalised"]


def check_heuristic(name: str) -> str:
    if name not in HEURISTICS:
        raise ConfigError(f"unknown curriculum heuristic {name!r}{did_you_mean(name, HEURISTICS)}; "
                          f"use one of {list(HEURISTICS)}", field="curriculum")
    return name


def check_weighting(name: str) -> str:
    if name not in WEIGHTINGS:
        raise ConfigError(f"unknown curriculum weighting {name!r}{did_you_mean(name, WEIGHTINGS)}; "
                          f"use one of {list(WEIGHTINGS)}", field="weighting")
    return name


# ---------------------------------------------------------------------------- 1. ease values
def reciprank_values(ranks: Sequence[float | None]) -> np.ndarray:
    """``1 / rank`` with 1-based ranks; a missing rank (None or NaN, not in the run) counts as 1000."""
    r = np.array([MISSING_RANK if x is None else x for x in ranks], dtype=float)
    r[np.isnan(r)] = MISSING_RANK
    if (r < 1).any():
        raise ValueError(f"ranks must be 1-based (>= 1), got {r[r < 1][0]}")
    return 1.0 / r


def normscore_values(scores: Sequence[float], run_scores: Sequence[float]) -> np.ndarray:
    """``(s - min) / (max - min)`` with min and max over ``run_scores`` (may fall outside [0, 1]).

    When all run scores are equal the range is 0: a score at or above that value gives 1, below gives 0.
    """
    s = np.asarray(scores, dtype=float)
    run = np.asarray(run_scores, dtype=float)
    if run.size == 0:
        raise ValueError("normscore needs at least one run score")
    lo, hi = run.min(), run.max()
    if hi == lo:
        return (s >= lo).astype(float)
    return (s - lo) / (hi - lo)


def kde_values(scores: Sequence[float], run_scores: Sequence[float]) -> np.ndarray:
    """CDF at each score of a Gaussian KDE (scipy, Scott bandwidth) fitted on ``run_scores``.

    A run with fewer than two distinct scores has no KDE: the CDF is then a step (1 at or above the
    score, 0 below), the limit of a vanishing bandwidth.
    """
    s = np.asarray(scores, dtype=float)
    run = np.asarray(run_scores, dtype=float)
    if run.size == 0:
        raise ValueError("kdescore needs at least one run score")
    if np.unique(run).size < 2:
        return (s >= run[0]).astype(float)
    from scipy.stats import gaussian_kde

    kde = gaussian_kde(run)
    return np.array([kde.integrate_box_1d(-np.inf, x) for x in s], dtype=float)


def ease_values(heuristic: str, ranks: Sequence[float | None], scores: Sequence[float],
                run_scores: Sequence[float]) -> np.ndarray:
    """The ease-if-relevant value of documents of one query (``ranks`` 1-based, NaN when not in the run).

    ``scores`` are the documents' first-stage scores, ``run_scores`` all scores of the query's run.
    ``none`` gives ones (every weight then becomes uniform).
    """
    check_heuristic(heuristic)
    if heuristic == "reciprank":
        return reciprank_values(ranks)
    if heuristic == "normscore":
        return normscore_values(scores, run_scores)
    if heuristic == "kdescore":
        return kde_values(scores, run_scores)
    return np.ones(len(scores), dtype=float)


# ---------------------------------------------------------------------------- 2. difficulty weights
def pointwise_weights(values: Sequence[float], relevant: Sequence[bool], anti: bool = False) -> np.ndarray:
    """``D = v`` (relevant) or ``1 - v`` (not relevant), flipped to ``1 - v`` first when ``anti``, + 1e-8."""
    v = np.asarray(values, dtype=float)
    if anti:
        v = 1.0 - v
    rel = np.asarray(relevant, dtype=bool)
    return np.where(rel, v, 1.0 - v) + SMOOTH


def pairwise_weights(positive: Sequence[float], negatives: Sequence[Sequence[float]] | Sequence[float],
                     anti: bool = False) -> np.ndarray:
    """``D = (v+ - v- + 1) / 2 + 1e-8`` per pair; with a matrix of negatives (pairs x n) the minimum
    over the negatives. ``anti`` gives ``1 - D`` (+ 1e-8)."""
    pos = np.asarray(positive, dtype=float)
    neg = np.asarray(negatives, dtype=float)
    if neg.ndim == 1:
        neg = neg[:, None]
    if neg.shape[0] != pos.shape[0]:
        raise ValueError(f"{pos.shape[0]} positives but {neg.shape[0]} rows of negatives")
    d = ((pos[:, None] - neg + 1.0) / 2.0).min(axis=1)
    if anti:
        d = 1.0 - d
    return d + SMOOTH


# ---------------------------------------------------------------------------- 3. annealing
def anneal(weights: Sequence[float] | np.ndarray, iteration: int,
           end: int = DEFAULT_END_OF_CURRICULUM) -> np.ndarray:
    """``W = D (1 - i/m) + i/m`` for iteration ``i < m`` (0-based), 1 from ``m`` on; ``m <= 0``: ``W = D``."""
    d = np.asarray(weights, dtype=float)
    if end <= 0:
        return d
    if iteration >= end:
        return np.ones_like(d)
    progress = iteration / end
    return d * (1.0 - progress) + progress


# ---------------------------------------------------------------------------- 4. weighting a batch
def weighted_loss(losses, weights, mode: str = "batch-mean"):
    """Combine per-sample ``losses`` with curriculum ``weights`` (torch tensors or numpy arrays).

    ``batch-mean``: mean(losses) x mean(weights) (OpenNIR's code; default); ``per-sample``:
    mean(weights x losses); ``normalised``: sum(weights x losses) / sum(weights).
    """
    check_weighting(mode)
    if mode == "batch-mean":
        return losses.mean() * weights.mean()
    if mode == "per-sample":
        return (weights * losses).mean()
    return (weights * losses).sum() / weights.sum()
