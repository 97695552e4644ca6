"""Routing policies: stages that decide, per question, whether to retrieve or answer from memory.

A policy adds a boolean column ``retrieve`` (and, for score-based policies, ``route_score``) to a
queries table. Thresholds are configuration fields, so a fitted policy is an ordinary, cacheable
stage; :meth:`Policy.fit` returns a copy with thresholds tuned on a table of outcomes (one row per
question with ``correct_recall`` and ``correct_retrieve`` booleans and the signal columns).

>>> policy = PopularityThreshold().fit(train_outcomes, reference=all_questions)   # doctest: +SKIP
>>> policy(test_queries)["retrieve"]                                             # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from rag.adaptive.search import (
    best_bin_threshold,
    best_cut,
    best_two_cuts,
    cut_of_bin_threshold,
    histogram_edges,
)
from rag.core.errors import InputError
from rag.core.schema import require_columns
from rag.core.stage import Stage

OUTCOME_COLUMNS = ("correct_recall", "correct_retrieve")


def _require(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], who: str) -> None:
    require_columns(frame, columns, who)


def _numeric(frame: pd.DataFrame, column: str, who: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    if np.isnan(values).any():
        qid = frame["qid"].iloc[int(np.flatnonzero(np.isnan(values))[0])] if "qid" in frame else "?"
        raise InputError(f"{who}: column {column!r} has a missing or non-numeric value (question {qid!r})",
                         field=column)
    return values


class Policy(Stage):
    """Base class: subclasses implement :meth:`decide` (and :meth:`fit` when they have thresholds)."""

    gives: ClassVar[tuple[str, ...]] = ("retrieve",)
    cacheable: ClassVar[bool] = False  # cheap; the expensive signals upstream are cached

    def decide(self, frame: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The number the decision thresholds (higher = more likely to recall), if any."""
        return None

    def fit(self, outcomes: pd.DataFrame, reference: pd.DataFrame | None = None) -> "Policy":
        """A copy tuned on ``outcomes``; policies without parameters return themselves."""
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["retrieve"] = np.asarray(self.decide(frame), bool)
        score = self.score(frame)
        if score is not None:
            out["route_score"] = np.asarray(score, float)
        return out

    def llm_tokens(self, frame: pd.DataFrame, retrieve: np.ndarray) -> np.ndarray:
        """LLM tokens spent per question under this policy: one answer from the chosen path."""
        _require(frame, ("tokens_recall", "tokens_retrieve"), self.name)
        return np.where(retrieve, frame["tokens_retrieve"].to_numpy(float), frame["tokens_recall"].to_numpy(float))


@dataclass(repr=False)
class AlwaysRetrieve(Policy):
    """Retrieve for every question (standard RAG)."""

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        return np.ones(len(frame), bool)


@dataclass(repr=False)
class NeverRetrieve(Policy):
    """Never retrieve (closed-book answers)."""

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), bool)


@dataclass(repr=False)
class Oracle(Policy):
    """Upper bound: retrieve exactly when retrieval is right and the closed-book answer is wrong.

    Needs both outcomes, so it only makes sense for analysis, not deployment."""

    needs: ClassVar[tuple[str, ...]] = ("qid", *OUTCOME_COLUMNS)

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, OUTCOME_COLUMNS, self.name)
        return frame["correct_retrieve"].to_numpy(bool) & ~frame["correct_recall"].to_numpy(bool)


@dataclass(repr=False)
class PopularityThreshold(Policy):
    """Mallen et al. (2023): per relation, retrieve when the subject's log10(popularity) is below a cut.

    Cuts are in log10 of the popularity column (monthly page views): a cut of 2.0 retrieves for subjects
    with fewer than 100 views, 1.74 for fewer than ~55. Fitting follows the paper's notebook (METHODS.md
    §5.3), which bins the natural log: per relation, 10 equal-width bins (``numpy.histogram`` defaults)
    over the relation's questions in ``reference`` (all questions, as in the notebook; ``bins_from="train"``
    uses the training rows only); the threshold is the bin index ``t`` maximising training accuracy of
    "retrieve for bins < t". Equal-width bins of ln and of log10 are the same bins (the two differ by a
    constant factor), so the fitted routing is the notebook's; only the unit of the stored cut differs.
    ``cuts`` holds the fitted cut per relation; relations without one use ``default`` (``"retrieve"``,
    ``"recall"`` or ``"global"``: ``global_cut``, fitted on all training rows pooled). The ``relation``
    column is read only when ``cuts`` names relations.
    """

    cuts: dict[str, float] = field(default_factory=dict)   # per relation: retrieve when log10(popularity) is below this cut
    popularity: str = "s_pop"   # the popularity column (monthly page views)
    relation: str = "relation"   # the relation column (cuts are per relation)
    bins: int = 10   # popularity bins searched when fitting cuts
    bins_from: Literal["reference", "train"] = "reference"   # where the bin edges come from when fitting: the reference data or the training split
    default: Literal["retrieve", "recall", "global"] = "global"   # a relation without a cut: retrieve, recall, or use the global cut
    global_cut: float = math.inf   # the cut in log10(popularity) for relations without their own

    needs: ClassVar[tuple[str, ...]] = ("qid",)

    def needed_columns(self) -> tuple[str, ...]:
        return (*self.needs, self.popularity, *((self.relation,) if self.cuts else ()))

    def _log_pop(self, frame: pd.DataFrame) -> np.ndarray:
        pop = _numeric(frame, self.popularity, self.name)
        if (pop <= 0).any():
            raise InputError(f"{self.name}: popularity must be positive to take its logarithm "
                             f"(found {pop[pop <= 0][0]!r}); drop such questions, as Mallen et al. do",
                             field=self.popularity)
        return np.log10(pop)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, (self.popularity,), self.name)
        return self._log_pop(frame)

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, self.needed_columns(), self.name)
        x = self._log_pop(frame)
        fallback = {"retrieve": math.inf, "recall": -math.inf, "global": self.global_cut}[self.default]
        if not self.cuts:
            return x < fallback
        cuts = np.array([self.cuts.get(str(r), fallback) for r in frame[self.relation]], float)
        return x < cuts

    def fit(self, outcomes: pd.DataFrame, reference: pd.DataFrame | None = None) -> "PopularityThreshold":
        _require(outcomes, (self.popularity, self.relation, *OUTCOME_COLUMNS), self.name)
        ref = outcomes if reference is None or self.bins_from == "train" else reference
        _require(ref, (self.popularity, self.relation), self.name)
        x_train = self._log_pop(outcomes)
        x_ref = self._log_pop(ref)
        rel_train = outcomes[self.relation].astype(str).to_numpy()
        rel_ref = ref[self.relation].astype(str).to_numpy()
        rec = outcomes["correct_recall"].to_numpy(bool)
        ret = outcomes["correct_retrieve"].to_numpy(bool)
        cuts: dict[str, float] = {}
        for relation in sorted(set(rel_ref) | set(rel_train)):
            in_ref = rel_ref == relation
            edges = histogram_edges(x_ref[in_ref] if in_ref.any() else x_train[rel_train == relation], self.bins)
            mask = rel_train == relation
            t, _ = best_bin_threshold(x_train[mask], rec[mask], ret[mask], edges)
            cuts[relation] = cut_of_bin_threshold(t, edges)
        global_cut, _ = best_cut(x_train, rec, ret)
        return dataclasses.replace(self, cuts=cuts, global_cut=global_cut)


@dataclass(repr=False)
class CountThreshold(Policy):
    """WiTQA-style rule (Maekawa et al. 2024; METHODS.md §5.2, thresholds UNVERIFIED, tuned here):
    recall if the subject-relation count ``>= tau_sr``; otherwise recall if ``use_subject`` and the
    subject count ``>= tau_s``; otherwise retrieve. Counts come from the dataset (WiTQA's
    ``sub_pred_count`` / ``entity_count``) or from :class:`~rag.adaptive.counts.MentionCounts`."""

    tau_sr: float = math.inf   # retrieve when the subject-relation count is below this
    tau_s: float = math.inf   # retrieve when the subject count is below this
    use_subject: bool = True   # also use the subject count (not only subject-relation)
    sr_count: str = "sr_count"   # the subject-relation count column
    s_count: str = "s_count"   # the subject count column
    max_candidates: int = 256   # most thresholds tried when fitting

    def needed_columns(self) -> tuple[str, ...]:
        return (*self.needs, self.sr_count, *((self.s_count,) if self.use_subject else ()))

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, (self.sr_count,), self.name)
        return _numeric(frame, self.sr_count, self.name)

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, (self.sr_count, self.s_count) if self.use_subject else (self.sr_count,), self.name)
        retrieve = _numeric(frame, self.sr_count, self.name) < self.tau_sr
        if self.use_subject:
            retrieve &= _numeric(frame, self.s_count, self.name) < self.tau_s
        return retrieve

    def fit(self, outcomes: pd.DataFrame, reference: pd.DataFrame | None = None) -> "CountThreshold":
        cols = (self.sr_count, self.s_count) if self.use_subject else (self.sr_count,)
        _require(outcomes, (*cols, *OUTCOME_COLUMNS), self.name)
        sr = _numeric(outcomes, self.sr_count, self.name)
        s = _numeric(outcomes, self.s_count, self.name) if self.use_subject else np.zeros(len(outcomes))
        tau_sr, tau_s, _ = best_two_cuts(sr, s, outcomes["correct_recall"].to_numpy(bool),
                                         outcomes["correct_retrieve"].to_numpy(bool), self.use_subject,
                                         self.max_candidates)
        return dataclasses.replace(self, tau_sr=tau_sr, tau_s=tau_s if self.use_subject else math.inf)


@dataclass(repr=False)
class ConfidenceThreshold(Policy):
    """Retrieve when the model's confidence in its closed-book answer is below ``threshold``.

    ``signal`` names a column written by a signal stage (``answer_confidence``, ``p_sure``,
    ``self_judge``, ``rtuning_confidence``, ...). Questions with a missing signal (unparsable output)
    are routed by ``missing`` (default: retrieve). The closed-book answer is always generated first, so
    its tokens (and ``cost_column``, the signal's own tokens) are paid for every question."""

    signal: str = "answer_confidence"   # the confidence column (e.g. answer_confidence, p_sure, self_judge)
    threshold: float = -math.inf   # retrieve when the signal is below this
    missing: Literal["retrieve", "recall"] = "retrieve"   # what to do when the signal is missing (NaN)
    cost_column: str | None = None   # a column with the signal's cost in tokens (added to the question's cost)

    def needed_columns(self) -> tuple[str, ...]:
        return (*self.needs, self.signal)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        _require(frame, (self.signal,), self.name)
        return pd.to_numeric(frame[self.signal], errors="coerce").to_numpy(float)

    def decide(self, frame: pd.DataFrame) -> np.ndarray:
        s = self.score(frame)
        with np.errstate(invalid="ignore"):
            retrieve = s < self.threshold
        retrieve[np.isnan(s)] = self.missing == "retrieve"
        return retrieve

    def fit(self, outcomes: pd.DataFrame, reference: pd.DataFrame | None = None) -> "ConfidenceThreshold":
        _require(outcomes, (self.signal, *OUTCOME_COLUMNS), self.name)
        s = self.score(outcomes)
        ok = ~np.isnan(s)
        cut, _ = best_cut(s[ok], outcomes["correct_recall"].to_numpy(bool)[ok],
                          outcomes["correct_retrieve"].to_numpy(bool)[ok])
        return dataclasses.replace(self, threshold=cut)

    def llm_tokens(self, frame: pd.DataFrame, retrieve: np.ndarray) -> np.ndarray:
        _require(frame, ("tokens_recall", "tokens_retrieve"), self.name)
        tokens = frame["tokens_recall"].to_numpy(float) + np.where(retrieve, frame["tokens_retrieve"].to_numpy(float), 0)
        if self.cost_column:
            _require(frame, (self.cost_column,), self.name)
            tokens = tokens + frame[self.cost_column].to_numpy(float)
        return tokens
