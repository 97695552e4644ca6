"""LLM judges: utility judgments (pointwise, pairwise with position calibration, listwise-set/rank,
k-sampling), the expected-score judge with abstention, and set P/R/F1 of judgments."""
from .core import (AGGREGATES, METHODS, Judgment, abstain, expected_score, k_sampling, listwise_rank, listwise_set,
                   pairwise, pointwise, pointwise_judgments, set_prf)
from .stage import UtilityJudge

__all__ = ["AGGREGATES", "METHODS", "Judgment", "abstain", "expected_score", "k_sampling", "listwise_rank",
           "listwise_set", "pairwise", "pointwise", "pointwise_judgments", "set_prf", "UtilityJudge"]
