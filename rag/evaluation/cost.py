"""Cost measures: what answering each question took (LLM tokens and seconds, whether it retrieved).

They read the per-question cost columns that every LLM stage adds to (``llm_prompt_tokens``,
``llm_completion_tokens``, ``llm_seconds``: summed over all LLM stages of the pipeline, cached calls
counted at what they cost when computed) and the ``retrieved`` flag of readers and routers. A system
without an LLM costs 0 tokens; a table with one row per document counts each question once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import COST_COLUMNS

_LEGACY = {"llm_prompt_tokens": "prompt_tokens", "llm_completion_tokens": "completion_tokens",
           "llm_seconds": "latency_s"}


def _per_question(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if "qid" not in table.columns:
        raise InputError(f"{name} needs a table with a 'qid' column", field="qid")
    return table.drop_duplicates("qid")


def _column(table: pd.DataFrame, column: str) -> pd.Series:
    if column in table.columns:
        return pd.to_numeric(table[column], errors="coerce").fillna(0.0)
    legacy = _LEGACY.get(column)
    if legacy in table.columns:
        return pd.to_numeric(table[legacy], errors="coerce").fillna(0.0)
    return pd.Series(0.0, index=table.index)


@dataclass(frozen=True)
class _CostMeasure:
    name: str
    columns: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = "cost"
    better: ClassVar[str] = "lower"
    digits: ClassVar[int] = 1      # tokens: one decimal
    missing_reason: ClassVar[str] = "no answer"

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        table = _per_question(results, self.name)
        total = sum((_column(table, c) for c in self.columns), pd.Series(0.0, index=table.index))
        return pd.Series(total.to_numpy(dtype="float64"), index=table["qid"].astype(str).to_numpy(), name=self.name)


@dataclass(frozen=True)
class PromptTokens(_CostMeasure):
    """Prompt tokens sent to LLMs for the question (all LLM stages)."""

    columns: ClassVar[tuple[str, ...]] = (COST_COLUMNS[0],)


@dataclass(frozen=True)
class CompletionTokens(_CostMeasure):
    """Tokens the LLMs generated for the question (all LLM stages)."""

    columns: ClassVar[tuple[str, ...]] = (COST_COLUMNS[1],)


@dataclass(frozen=True)
class LLMTokens(_CostMeasure):
    """Prompt + completion tokens spent on the question (all LLM stages)."""

    columns: ClassVar[tuple[str, ...]] = COST_COLUMNS[:2]


@dataclass(frozen=True)
class LLMSeconds(_CostMeasure):
    """Seconds of LLM time the question took (as measured when the calls were computed)."""

    columns: ClassVar[tuple[str, ...]] = (COST_COLUMNS[2],)
    digits: ClassVar[int] = 2


@dataclass(frozen=True)
class RetrievalRate:
    """1 when the question was answered with retrieved passages (``retrieved``), else 0: a cost (retrieving
    less at the same accuracy is better)."""

    name: str = "RetrievalRate"
    kind: ClassVar[str] = "cost"
    better: ClassVar[str] = "lower"
    missing_reason: ClassVar[str] = "no answer"
    needs: ClassVar[tuple[str, ...]] = ("retrieved",)

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        table = _per_question(results, self.name)
        if "retrieved" not in table.columns:
            raise InputError(f"{self.name} needs a 'retrieved' column (written by readers and routers)",
                             field="retrieved")
        return pd.Series(table["retrieved"].astype(float).to_numpy(), index=table["qid"].astype(str).to_numpy(),
                         name=self.name)
