"""Cost measures of active readers and refiners: retrieval calls, LLM calls and context tokens per question."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from rag.evaluation.cost import _column, _per_question


@dataclass(frozen=True)
class RetrievalCalls:
    """Searches made for the question (``retrievals`` of flare / ircot; 1 for a reader that read passages)."""

    name: str
    kind: ClassVar[str] = "cost"
    lower_is_better: ClassVar[bool] = True
    missing_reason: ClassVar[str] = "no answer"

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        table = _per_question(results, self.name)
        if "retrievals" in table.columns:
            values = _column(table, "retrievals")
        elif "retrieved" in table.columns:
            values = table["retrieved"].fillna(False).astype(float)
        else:
            values = pd.Series(1.0 if "docno" in table.columns else 0.0, index=table.index)
        return pd.Series(values.to_numpy(dtype="float64"), index=table["qid"].astype(str).to_numpy(), name=self.name)


@dataclass(frozen=True)
class LLMCalls(RetrievalCalls):
    """LLM calls made for the question (``llm_calls`` of active readers; 1 for a reader's answer)."""

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        table = _per_question(results, self.name)
        values = _column(table, "llm_calls") if "llm_calls" in table.columns else \
            pd.Series(1.0 if "answer" in table.columns else 0.0, index=table.index)
        return pd.Series(values.to_numpy(dtype="float64"), index=table["qid"].astype(str).to_numpy(), name=self.name)


@dataclass(frozen=True)
class ContextTokens(RetrievalCalls):
    """Tokens of the passages in the reader's prompt (:func:`rag.refiners.base.count_tokens`)."""

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        from rag.refiners.base import count_tokens

        table = _per_question(results, self.name)
        contexts = table["contexts"] if "contexts" in table.columns else pd.Series([[]] * len(table), index=table.index)
        values = [sum(count_tokens(str(t)) for t in c) if isinstance(c, (list, tuple, np.ndarray)) else 0
                  for c in contexts]
        return pd.Series(np.asarray(values, dtype="float64"), index=table["qid"].astype(str).to_numpy(), name=self.name)
