"""Agreement statistics of one metric with a human label, on the sample and on bootstrap resamples.

Spearman ρ (Pearson of average ranks), Kendall τ-b (scipy's formula), point-biserial r (Pearson with the
binary label) and ROC-AUC (Mann-Whitney U / (n_pos·n_neg)), all as ``meta_eval`` has defined them.

A bootstrap resample is a multiset of the original items, so it is fully described by how often each
item was drawn. Items are grouped once into cells of equal (label value, score value); a chunk of
resamples becomes a count array (one ``bincount``), and every statistic follows from the cell counts:
average ranks from cumulative counts along the score axis, concordant minus discordant pairs from the
counts of lower-score cells per label, U from the ranks (all rank sums exact integers). No per-resample sort
and no per-resample scipy call: O(resamples x items) time and memory bounded by the chunk size. Labels with
more than :data:`MAX_LABEL_VALUES` distinct values fall back to ranking each resample directly.

The resample indices are drawn exactly as before (``rng.integers(0, n, size=(n_boot, n))`` for each
metric in turn, in chunks of rows, which draw the same numbers), so a fixed seed gives the same
intervals as the per-resample implementation.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

STATS = ("spearman", "kendall", "point_biserial", "roc_auc")
MAX_LABEL_VALUES = 64          # label values handled by the cell-count path
CHUNK_CELLS = 1_500_000        # float64 cells per working array (about 12 MB)


class _Cells:
    """The items of one metric grouped by score value (g) and label value (k)."""

    def __init__(self, score: np.ndarray, codes: np.ndarray, binary: np.ndarray):
        self.n = len(score)
        label_values, label_of = np.unique(codes, return_inverse=True)
        score_values, score_of = np.unique(score, return_inverse=True)
        self.n_scores, self.n_labels = len(score_values), len(label_values)
        self.cell_of_item = label_of.astype(np.int64) * self.n_scores + score_of   # layout (label, score)
        self.centered_score = score_values - score.mean()
        positive = np.zeros(self.n_labels)
        positive[label_of] = binary                   # binary is a function of the label value
        if not np.array_equal(positive[label_of], binary):
            raise ValueError("the binary label must be a function of the label value")
        self.positive = positive.astype(bool)

    @property
    def width(self) -> int:
        return self.n_scores * self.n_labels

    def counts(self, idx: np.ndarray) -> np.ndarray:
        """``(resamples, labels, scores)`` counts of each cell for resamples given as item indices."""
        rows = idx.shape[0]
        flat = self.cell_of_item[idx]
        flat += (np.arange(rows, dtype=np.int64) * self.width)[:, None]
        return np.bincount(flat.ravel(), minlength=rows * self.width).reshape(rows, self.n_labels, self.n_scores)

    def statistics(self, grid: np.ndarray) -> dict[str, np.ndarray]:
        """Every statistic of :data:`STATS` for each resample's cell counts.

        Ranks are kept doubled and centred (``2·rank − (n+1)``) so that every rank sum is an exact integer."""
        n, n_labels = self.n, self.n_labels
        by_label = [grid[:, k] for k in range(n_labels)]
        per_score = _total(by_label)                                        # T_g
        per_label = grid.sum(axis=2)                                        # M_k
        lower = [np.cumsum(g, axis=1) - g for g in by_label]               # label k, lower score
        below = _total(lower)                                               # any label, lower score
        rank2 = 2 * below + per_score + 1                                   # twice the average rank
        r2 = rank2 - (n + 1)
        q2 = 2 * (np.cumsum(per_label, axis=1) - per_label) + per_label - n   # doubled, centred label ranks
        with np.errstate(invalid="ignore", divide="ignore"):
            num = sum(q2[:, k] * _dot(g, r2) for k, g in enumerate(by_label))
            den = np.sqrt(_dot(per_score * r2, r2).astype(np.float64) * (per_label * q2 * q2).sum(1))
            spearman = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

            # Kendall tau-b, scipy's formula: (concordant - discordant) / sqrt(tot - xtie) / sqrt(tot - ytie)
            con_minus_dis = np.zeros(len(grid), dtype=np.int64)
            lower_labels = np.zeros_like(below)                             # lower score and lower label
            for g, low in zip(by_label, lower):
                con_minus_dis += _dot(g, 2 * lower_labels + low - below)
                lower_labels += low
            tot = n * (n - 1) // 2
            xtie = _dot(per_score, per_score - 1) // 2
            ytie = (per_label * (per_label - 1)).sum(1) // 2
            ok = (xtie < tot) & (ytie < tot)
            tau = con_minus_dis / np.sqrt(np.where(ok, tot - xtie, 1)) / np.sqrt(np.where(ok, tot - ytie, 1))
            kendall = np.where(ok, np.clip(tau, -1.0, 1.0), np.nan)

            positives = _total([g for g, pos in zip(by_label, self.positive) if pos], like=per_score)
            n_pos = per_label[:, self.positive].sum(1)
            n_neg = n - n_pos
            u2 = _dot(positives, rank2) - n_pos * (n_pos + 1)                # twice Mann-Whitney U
            has_both = (n_pos > 0) & (n_neg > 0)
            roc_auc = np.where(has_both, u2 / np.where(has_both, 2 * n_pos * n_neg, 1), np.nan)

            s = self.centered_score
            sum_s, sum_s2, pos_s = (per_score * s).sum(1), (per_score * (s * s)).sum(1), (positives * s).sum(1)
            var_s = sum_s2 - sum_s * sum_s / n
            cov = pos_s - sum_s * n_pos / n
            var_b = n_pos - n_pos * n_pos / n
            den_pb = np.sqrt(var_s * var_b)
            point_biserial = np.where(den_pb > 0, cov / np.where(den_pb > 0, den_pb, 1), np.nan)
        return {"spearman": spearman, "kendall": kendall, "point_biserial": point_biserial, "roc_auc": roc_auc}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product."""
    return (a * b).sum(axis=1)


def _total(arrays: list[np.ndarray], like: np.ndarray | None = None) -> np.ndarray:
    """Element-wise sum of equally shaped arrays (zeros like ``like`` when there are none)."""
    if not arrays:
        return np.zeros_like(like)
    out = arrays[0].copy()
    for a in arrays[1:]:
        out += a
    return out


# ---------------------------------------------------------------------------- direct path (many label values)
def _rank_rows(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata
    return rankdata(a, axis=-1)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(-1) / np.where(denom > 0, denom, 1), np.nan)


def _auc_rows(score: np.ndarray, binary: np.ndarray) -> np.ndarray:
    ranks = _rank_rows(score)
    n_pos = binary.sum(-1)
    n_neg = binary.shape[-1] - n_pos
    u = (ranks * binary).sum(-1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / np.where(n_pos * n_neg > 0, n_pos * n_neg, 1), np.nan)


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import kendalltau

    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = kendalltau(x[i], y[i]).statistic if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0 else np.nan
    return out


def direct_statistics(score: np.ndarray, codes: np.ndarray, binary: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics of each row of ``score``/``codes``/``binary`` (2-D: one resample per row)."""
    return {"spearman": _pearson_rows(_rank_rows(score), _rank_rows(codes)),
            "kendall": _kendall_rows(score, codes),
            "point_biserial": _pearson_rows(score, binary),
            "roc_auc": _auc_rows(score, binary)}


# ---------------------------------------------------------------------------- entry point
def point_and_bootstrap(score: np.ndarray, codes: np.ndarray, binary: np.ndarray, n_boot: int,
                        rng: np.random.Generator, tick: Callable[[int], None] | None = None
                        ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The statistics on the sample and on ``n_boot`` resamples (drawn from ``rng``; ``tick(k)`` after
    each chunk of k resamples). Inputs hold no NaN."""
    n = len(score)
    fast = len(np.unique(codes)) <= MAX_LABEL_VALUES
    if fast:
        cells = _Cells(score, codes, binary)
        point = {k: float(v[0]) for k, v in cells.statistics(cells.counts(np.arange(n)[None])).items()}
        width = max(cells.width, n)
    else:
        point = {k: float(v[0]) for k, v in direct_statistics(score[None], codes[None], binary[None]).items()}
        width = 4 * n
    chunk = int(max(1, min(n_boot, CHUNK_CELLS // max(width, 1))))
    boot: dict[str, list[np.ndarray]] = {k: [] for k in STATS}
    done = 0
    while done < n_boot:
        rows = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(rows, n))
        values = cells.statistics(cells.counts(idx)) if fast else direct_statistics(score[idx], codes[idx],
                                                                                     binary[idx])
        for k in STATS:
            boot[k].append(values[k])
        done += rows
        if tick is not None:
            tick(rows)
    return point, {k: np.concatenate(v) if v else np.empty(0) for k, v in boot.items()}
