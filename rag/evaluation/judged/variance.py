"""Spread of an LLM judge's score (METHODS.md §17.2): n questions x K judge samples.

``m_i`` = mean of question i's parsable samples; S = mean_i m_i; se = sd_i(m_i) / sqrt(n) (it contains the judge
noise E[sigma^2]/K); J = (mean_i var_k(s_ik) / K) / var_i(m_i), the share of the variance of the question means that
is judge noise (K >= 2); the 95% interval is the percentile bootstrap over questions (B resamples, fixed seed;
questions only: resampling the samples too would count the judge noise twice). Paired comparison of two systems:
the same resampled questions for both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class JudgeSpread:
    """A judge score with its spread: mean, standard error, bootstrap interval, sizes, judge-noise share."""

    mean: float
    se: float
    lo: float
    hi: float
    n: int
    samples: int
    dropped: int
    judge_noise_share: float

    def __str__(self) -> str:
        noise = "" if math.isnan(self.judge_noise_share) else f", judge noise {self.judge_noise_share:.0%}"
        return (f"{self.mean:.3f} [{self.lo:.3f}, {self.hi:.3f}] (n={self.n}, K={self.samples}, se {self.se:.3f}"
                f"{noise}{f', {self.dropped} unparsable samples dropped' if self.dropped else ''})")


def question_means(samples: Sequence[Sequence[float]]) -> tuple[np.ndarray, int]:
    """Per-question means of the non-NaN samples (questions with none left out) and how many samples were NaN."""
    means, dropped = [], 0
    for row in samples:
        values = np.asarray(list(row), dtype="float64")
        dropped += int(np.isnan(values).sum())
        values = values[~np.isnan(values)]
        if values.size:
            means.append(values.mean())
    return np.asarray(means, dtype="float64"), dropped


def bootstrap_interval(values: np.ndarray, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95
                       ) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (questions resampled with replacement)."""
    if not len(values):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def judge_spread(samples: Sequence[Sequence[float]], n_boot: int = 1000, seed: int = 0) -> JudgeSpread:
    """Mean, standard error, bootstrap interval and judge-noise share of K samples per question."""
    means, dropped = question_means(samples)
    k = max((len(list(r)) for r in samples), default=0)
    n = len(means)
    se = float(means.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    lo, hi = bootstrap_interval(means, n_boot, seed)
    share = math.nan
    if k >= 2 and n > 1:
        within = []
        for row in samples:
            values = np.asarray(list(row), dtype="float64")
            values = values[~np.isnan(values)]
            if values.size >= 2:
                within.append(values.var(ddof=1))
        between = means.var(ddof=1)
        if within and between > 0:
            share = float(np.mean(within) / k / between)
    return JudgeSpread(float(means.mean()) if n else math.nan, se, lo, hi, n, k, dropped, share)


def paired_interval(a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Difference of means S_A - S_B over the same questions and its bootstrap interval (same resampled indices)."""
    x, y = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    keep = ~(np.isnan(x) | np.isnan(y))
    diff = x[keep] - y[keep]
    lo, hi = bootstrap_interval(diff, n_boot, seed)
    return float(diff.mean()) if len(diff) else math.nan, lo, hi
