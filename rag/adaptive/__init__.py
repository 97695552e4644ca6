"""Adaptive retrieval: route each question to closed-book recall or retrieval-augmented answering.

Policies (:mod:`.policies`) are stages that add a ``retrieve`` column; :class:`.route.Route` runs
the closed-book or the retrieval pipeline accordingly; :mod:`.signals` computes LLM confidence
signals; :mod:`.evaluation` fits and scores policies offline over bootstrap splits.
"""
from rag.adaptive import measures  # noqa: F401  (registers AliasAcc, RetrievalRate, LLMTokens)
from rag.adaptive.correctness import add_correctness, alias_in_answer
from rag.adaptive.outcomes import (
           abstention_curve,
           average_precision,
           bootstrap_policies,
           outcome_table,
           policy_outcome,
           signal_report,
           split_masks,
)
from rag.adaptive.policies import (
           AlwaysRetrieve,
           ConfidenceThreshold,
           CountThreshold,
           NeverRetrieve,
           Oracle,
           Policy,
           PopularityThreshold,
)

__all__ = ["AlwaysRetrieve", "ConfidenceThreshold", "CountThreshold", "NeverRetrieve", "Oracle", "Policy",
           "PopularityThreshold", "abstention_curve", "add_correctness", "alias_in_answer", "average_precision",
           "bootstrap_policies", "outcome_table", "policy_outcome", "signal_report", "split_masks"]
