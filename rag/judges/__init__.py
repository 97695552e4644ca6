"""LLM judges: utility judgments (pointwise, pairwise with position calibration, listwise-set/rank,
k-sampling), FairEval-style pairwise answer comparison (MEC + BPC), the expected-score judge with
abstention, and set P/R/F1 of judgments."""
from rag.judges.answers import Comparison, PairwiseAnswerJudge
from rag.judges.core import (
           AGGREGATES,
           METHODS,
           Judgment,
           abstain,
           expected_score,
           k_sampling,
           listwise_rank,
           listwise_set,
           pairwise,
           pointwise,
           pointwise_judgments,
           set_prf,
)
from rag.judges.stage import UtilityJudge

__all__ = ["AGGREGATES", "METHODS", "Comparison", "Judgment", "PairwiseAnswerJudge", "abstain", "expected_score",
           "k_sampling", "listwise_rank", "listwise_set", "pairwise", "pointwise", "pointwise_judgments", "set_prf", "UtilityJudge"]
