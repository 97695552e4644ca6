"""Paired significance tests against a baseline, with multiple-comparison correction across systems."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError, did_you_mean

TESTS = ("t-test", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "none")


def paired_test(a: np.ndarray, b: np.ndarray, test: str = "t-test") -> float:
    """Two-sided p-value of a paired test between per-query values ``a`` and ``b``.

    scipy's p-value (``ttest_rel``; ``wilcoxon`` with ``zero_method="wilcox"``) for every input, with
    exact rules for the two cases where scipy has none (it returns NaN there):

    - every difference ``a - b`` is exactly 0.0 (identical per-query values), or fewer than two pairs:
      1.0 — no evidence of a difference. Differences of 1e-12 are *not* zero: they get scipy's p-value.
    - t-test only, every difference is the same non-zero number: 0.0 (zero variance, a consistent shift).
    """
    from scipy import stats

    if test not in TESTS:
        raise InputError(f"unknown test {test!r}{did_you_mean(test, TESTS)}; use one of {TESTS}", field="test")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"a paired test needs two equally long lists of per-query values, got shapes "
                         f"{a.shape} and {b.shape}", field="test")
    diff = a - b
    if len(diff) < 2 or not diff.any():
        return 1.0
    if test == "t-test":
        if np.all(diff == diff[0]) and not np.isnan(diff[0]):
            return 0.0
        return float(stats.ttest_rel(a, b).pvalue)
    return float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)


def correct(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Adjust p-values for multiple comparisons (Holm step-down, Bonferroni, or none)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if method == "none" or m == 0:
        return p.tolist()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0).tolist()
    if method == "holm":
        order = np.argsort(p, kind="mergesort")
        adjusted = np.empty(m)
        running = 0.0
        for i, idx in enumerate(order):
            running = max(running, min((m - i) * p[idx], 1.0))
            adjusted[idx] = running
        return adjusted.tolist()
    raise InputError(f"unknown correction {method!r}{did_you_mean(method, CORRECTIONS)}", field="correction")


def significance(per_query_values: pd.DataFrame, baseline: str, test: str = "t-test",
                 correction: str = "holm", alpha: float = 0.05) -> pd.DataFrame:
    """Paired tests of every system against ``baseline``, per measure, corrected across systems.

    ``per_query_values``: long table ``system, qid, measure, value``; NaN values (a question a measure
    could not score) are left out of the pairs. A measure that does not apply to the baseline or to a
    system (no values) is not tested. Nor is a measure that is constant within the system or within the
    baseline over the paired questions (RetrievalRate of an always-retrieve system against closed-book:
    the difference is fixed by how the systems work, not a sample): its row has ``tested`` False, no
    p-value and is never significant. Returns ``system, measure, mean, baseline_mean, delta, p_value,
    p_adjusted, significant, n, tested``.
    """
    systems = list(dict.fromkeys(per_query_values["system"]))
    if baseline not in systems:
        raise InputError(f"baseline {baseline!r} is not among the systems{did_you_mean(baseline, systems)}",
                         field="baseline")
    rows = []
    for measure, group in per_query_values.groupby("measure", sort=False):
        wide = group.pivot_table(index="qid", columns="system", values="value", aggfunc="first", dropna=False)
        if baseline not in wide or wide[baseline].isna().all():
            continue
        base = wide[baseline]
        block = []
        for system in systems:
            if system == baseline or system not in wide:
                continue
            pair = pd.concat([wide[system], base], axis=1).dropna()
            if pair.empty:
                continue
            a, b = pair.iloc[:, 0].to_numpy(), pair.iloc[:, 1].to_numpy()
            tested = len(a) > 1 and bool(np.ptp(a) > 0) and bool(np.ptp(b) > 0)
            block.append({"system": system, "measure": measure, "mean": float(a.mean()),
                          "baseline_mean": float(b.mean()), "delta": float(a.mean() - b.mean()),
                          "p_value": paired_test(a, b, test) if tested else math.nan, "n": len(pair),
                          "tested": tested})
        tested_rows = [b for b in block if b["tested"]]
        adjusted = correct([b["p_value"] for b in tested_rows], correction)   # only the tests made count
        for b, pa in zip(tested_rows, adjusted):
            b["p_adjusted"] = pa
            b["significant"] = bool(pa < alpha) and not math.isnan(pa)
        for b in block:
            if not b["tested"]:
                b["p_adjusted"], b["significant"] = math.nan, False
        rows.extend(block)
    columns = ["system", "measure", "mean", "baseline_mean", "delta", "p_value", "p_adjusted", "significant", "n",
               "tested"]
    return pd.DataFrame(rows, columns=columns)
