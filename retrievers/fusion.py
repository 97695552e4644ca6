"""Fusion of several retrieval pipelines run on the same queries.

- :class:`RRF`, reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009):
  ``score(d) = sum_i w_i / (rank_constant + rank_i(d))`` with 1-based ranks, ``rank_constant = 60`` (the
  paper's k); a document missing from run i gets nothing from it.
- :class:`ScoreFusion`, CombSUM-style interpolation: ``score(d) = sum_i w_i * norm_i(d)`` with each
  run's scores normalised per query (``minmax`` to [0, 1], ``zscore``, or ``none``); a document
  missing from run i takes that run's lowest normalised score for the query (0 under ``minmax``).

Each fused run contributes its top ``per_run`` documents per query. METHODS.md fixes no fusion formula;
these are the usual defaults (RRF constant 60, equal weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from rag.core import params
from rag.core.errors import ConfigError
from rag.core.stage import Stage, add_ranks

Normalisation = Literal["minmax", "zscore", "none"]


def _check(pipelines: list[Stage], weights: list[float] | None, per_run: int) -> list[float]:
    if len(pipelines) < 2:
        raise ConfigError(f"fusion needs at least two pipelines, got {len(pipelines)}", field="pipelines")
    params.integer(per_run, "per_run")
    if weights is None:
        return [1.0] * len(pipelines)
    if len(weights) != len(pipelines):
        raise ConfigError(f"{len(weights)} weights for {len(pipelines)} pipelines", field="weights")
    return [float(w) for w in weights]


def _run_all(pipelines: list[Stage], frame: pd.DataFrame, per_run: int) -> list[pd.DataFrame]:
    runs = []
    for stage in pipelines:
        out = stage(frame)
        out = out if "rank" in out.columns else add_ranks(out)
        runs.append(out[out["rank"] < per_run][["qid", "docno", "score", "rank"]])
    return runs


def _finish(frame: pd.DataFrame, fused: pd.DataFrame) -> pd.DataFrame:
    queries = frame.drop_duplicates("qid")
    keep = [c for c in queries.columns if c not in ("docno", "score", "rank", "text", "title")]
    return add_ranks(queries[keep].merge(fused, on="qid", how="inner"))


def normalise(run: pd.DataFrame, method: Normalisation) -> pd.Series:
    """Per-query normalised scores of ``run`` (a constant query maps to 1 under minmax, 0 under zscore)."""
    scores = run["score"].astype("float64")
    if method == "none":
        return scores
    grouped = scores.groupby(run["qid"])
    if method == "minmax":
        low, high = grouped.transform("min"), grouped.transform("max")
        span = (high - low).to_numpy()
        values = np.divide((scores - low).to_numpy(), span, out=np.ones(len(scores)), where=span > 0)
        return pd.Series(values, index=run.index)
    if method == "zscore":
        mean, std = grouped.transform("mean"), grouped.transform("std", ddof=0)
        values = np.divide((scores - mean).to_numpy(), std.to_numpy(), out=np.zeros(len(scores)),
                           where=std.to_numpy() > 0)
        return pd.Series(values, index=run.index)
    raise ConfigError(f"normalisation must be 'minmax', 'zscore' or 'none', got {method!r}", field="normalisation")


@dataclass(repr=False)
class RRF(Stage):
    """Reciprocal rank fusion of ``pipelines`` (each run on the same input; top ``per_run`` of each used)."""

    pipelines: list[Stage]
    rank_constant: float = 60.0          # added to each 1-based rank (the k of Cormack et al.)
    weights: list[float] | None = None   # one weight per fused pipeline (default: equal)
    per_run: int = 1000                  # how many of each pipeline's top documents per query are fused
    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    cacheable: ClassVar[bool] = False   # the pipelines are cached stage by stage

    def __post_init__(self) -> None:
        self._weights = _check(self.pipelines, self.weights, self.per_run)
        params.number(self.rank_constant, "rank_constant", low=0.0)

    def config(self) -> dict:
        return {"pipelines": [p.fingerprint() for p in self.pipelines], "rank_constant": self.rank_constant,
                "weights": self._weights, "per_run": self.per_run}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return _finish(frame, reciprocal_rank_fusion(_run_all(self.pipelines, frame, self.per_run), self.rank_constant,
                                                     self._weights))


def reciprocal_rank_fusion(runs: list[pd.DataFrame], rank_constant: float = 60.0,
                           weights: list[float] | None = None) -> pd.DataFrame:
    """``qid, docno, score`` with ``score = sum_i w_i / (rank_constant + rank_i + 1)`` over the runs (``rank``
    0-based)."""
    weights = weights or [1.0] * len(runs)
    parts = [run[["qid", "docno"]].assign(score=w / (rank_constant + run["rank"].to_numpy(dtype="float64") + 1.0))
             for run, w in zip(runs, weights)]
    return pd.concat(parts).groupby(["qid", "docno"], as_index=False, sort=False)["score"].sum()


@dataclass(repr=False)
class ScoreFusion(Stage):
    """Weighted sum of per-query normalised scores of ``pipelines`` (CombSUM; interpolation with weights)."""

    pipelines: list[Stage]
    weights: list[float] | None = None   # one weight per fused pipeline (default: equal)
    normalisation: Normalisation = "minmax"   # per-query score normalisation: minmax or zscore
    per_run: int = 1000                  # how many of each pipeline's top documents per query are fused
    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    cacheable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._weights = _check(self.pipelines, self.weights, self.per_run)
        if self.normalisation not in ("minmax", "zscore", "none"):
            raise ConfigError(f"normalisation must be 'minmax', 'zscore' or 'none', got {self.normalisation!r}",
                              field="normalisation")

    def config(self) -> dict:
        return {"pipelines": [p.fingerprint() for p in self.pipelines], "weights": self._weights,
                "normalisation": self.normalisation, "per_run": self.per_run}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        runs = _run_all(self.pipelines, frame, self.per_run)
        keys = pd.concat([r[["qid", "docno"]] for r in runs]).drop_duplicates()
        total = np.zeros(len(keys))
        for run, w in zip(runs, self._weights):
            scored = run.assign(norm=normalise(run, self.normalisation))
            floor = scored.groupby("qid")["norm"].min()
            merged = keys.merge(scored[["qid", "docno", "norm"]], on=["qid", "docno"], how="left")
            filled = merged["norm"].fillna(merged["qid"].map(floor)).fillna(0.0)
            total += w * filled.to_numpy()
        fused = keys.reset_index(drop=True).assign(score=total)
        return _finish(frame, fused)
