"""Threshold searches used to fit routing policies on a training split.

All searches maximise training accuracy of the hybrid "retrieve for some questions, recall for the
rest" given two boolean outcome vectors per question (closed-book correct, retrieval correct). Ties
go to the candidate that retrieves least (the cheaper policy), as ``numpy.argmax`` does in Mallen
et al.'s notebook where the first (lowest) bin index wins.
"""
from __future__ import annotations

import math

import numpy as np

N_BINS = 10  # numpy.histogram's default, used by Mallen et al.


def hybrid_correct(retrieve: np.ndarray, correct_recall: np.ndarray, correct_retrieve: np.ndarray) -> np.ndarray:
    """Per-question correctness of a routing decision (``retrieve`` True -> retrieval answer)."""
    return np.where(np.asarray(retrieve, bool), np.asarray(correct_retrieve, bool), np.asarray(correct_recall, bool))


def best_cut(score: np.ndarray, correct_recall: np.ndarray, correct_retrieve: np.ndarray) -> tuple[float, float]:
    """The cut ``c`` maximising accuracy of "retrieve iff score < c"; returns ``(c, accuracy)``.

    Candidates are ``-inf`` (never retrieve), the midpoints between consecutive distinct scores and
    ``+inf`` (always retrieve); ties go to the smallest cut. NaN scores are not allowed.
    """
    score = np.asarray(score, float)
    if np.isnan(score).any():
        raise ValueError("scores contain NaN; drop or fill them before fitting a threshold")
    rec, ret = np.asarray(correct_recall, bool), np.asarray(correct_retrieve, bool)
    if score.size == 0:
        return -math.inf, math.nan
    values, inverse = np.unique(score, return_inverse=True)
    # gain of retrieving instead of recalling, summed per distinct score value
    gain = np.bincount(inverse, weights=ret.astype(float) - rec.astype(float), minlength=values.size)
    # cut index j retrieves the j lowest distinct values: j = 0 .. len(values)
    correct = rec.sum() + np.concatenate([[0.0], np.cumsum(gain)])
    j = int(np.argmax(correct))
    if j == 0:
        cut = -math.inf
    elif j == values.size:
        cut = math.inf
    else:
        cut = float((values[j - 1] + values[j]) / 2)
    return cut, float(correct[j] / score.size)


def histogram_edges(x: np.ndarray, bins: int = N_BINS) -> np.ndarray:
    """Equal-width bin edges over the range of ``x`` (``numpy.histogram`` defaults)."""
    x = np.asarray(x, float)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("histogram edges need a non-empty array of finite values")
    return np.histogram(x, bins=bins)[1]


def best_bin_threshold(x: np.ndarray, correct_recall: np.ndarray, correct_retrieve: np.ndarray,
                       edges: np.ndarray) -> tuple[int, float]:
    """Mallen et al.'s search: the bin index ``t`` (0..bins) maximising accuracy of "retrieve for
    bins < t, recall for bins >= t" on these questions; returns ``(t, accuracy)``.

    With no questions every candidate is undefined and, as with ``numpy.argmax`` over NaNs, ``t = 0``.
    """
    x = np.asarray(x, float)
    rec, ret = np.asarray(correct_recall, bool), np.asarray(correct_retrieve, bool)
    if x.size == 0:
        return 0, math.nan
    rec_counts = np.histogram(x[rec], bins=edges)[0]
    ret_counts = np.histogram(x[ret], bins=edges)[0]
    n_bins = len(edges) - 1
    correct = np.array([ret_counts[:t].sum() + rec_counts[t:].sum() for t in range(n_bins + 1)], float)
    t = int(np.argmax(correct))
    return t, float(correct[t] / x.size)


def cut_of_bin_threshold(t: int, edges: np.ndarray) -> float:
    """The value ``c`` with "bin < t" equivalent to "x < c" for x in the edges' range."""
    n_bins = len(edges) - 1
    if t <= 0:
        return -math.inf
    if t >= n_bins:
        return math.inf
    return float(edges[t])


def candidate_cuts(values: np.ndarray, max_candidates: int = 64) -> np.ndarray:
    """Cuts for a grid search on one variable: ``-inf``, midpoints between distinct values (thinned to
    quantiles when there are many), ``+inf``."""
    distinct = np.unique(np.asarray(values, float))
    distinct = distinct[np.isfinite(distinct)]
    if distinct.size > max_candidates:
        distinct = np.unique(np.quantile(distinct, np.linspace(0, 1, max_candidates)))
    mids = (distinct[:-1] + distinct[1:]) / 2 if distinct.size > 1 else np.array([])
    return np.concatenate([[-math.inf], mids, [math.inf]])


def best_two_cuts(sr: np.ndarray, s: np.ndarray, correct_recall: np.ndarray, correct_retrieve: np.ndarray,
                  use_subject: bool = True, max_candidates: int = 256) -> tuple[float, float, float]:
    """Grid search for the WiTQA-style rule: recall if ``sr >= tau_sr``, else recall if ``use_subject``
    and ``s >= tau_s``, else retrieve. Returns ``(tau_sr, tau_s, accuracy)``.

    Candidates per variable are :func:`candidate_cuts` (exact when there are at most
    ``max_candidates`` distinct values); ties go to the pair that retrieves least, then to the
    smallest thresholds."""
    sr, s = np.asarray(sr, float), np.asarray(s, float)
    rec, ret = np.asarray(correct_recall, bool), np.asarray(correct_retrieve, bool)
    if sr.size == 0:
        return math.inf, math.inf, math.nan
    sr_cuts = candidate_cuts(sr, max_candidates)
    s_cuts = candidate_cuts(s, max_candidates) if use_subject else np.array([math.inf])
    gain = ret.astype(float) - rec.astype(float)
    s_index = np.searchsorted(s_cuts, s, side="right")  # s < s_cuts[j]  <=>  j >= s_index
    best = (-1.0, 0, 0, 0)  # (correct, -retrieved, i, j) compared lexicographically below
    best_key = None
    for i, cut in enumerate(sr_cuts):
        low = sr < cut
        # rows retrieved under (cut, s_cuts[j]): low & (j >= s_index)
        gain_at = np.cumsum(np.bincount(s_index[low], weights=gain[low], minlength=s_cuts.size + 1))[:s_cuts.size]
        count_at = np.cumsum(np.bincount(s_index[low], minlength=s_cuts.size + 1))[:s_cuts.size]
        correct = rec.sum() + gain_at
        for j in range(s_cuts.size):
            key = (round(float(correct[j]), 9), -int(count_at[j]), -i, -j)
            if best_key is None or key > best_key:
                best_key, best = key, (float(correct[j]), int(count_at[j]), i, j)
    _, _, i, j = best
    return float(sr_cuts[i]), float(s_cuts[j]), float(best[0] / sr.size)
