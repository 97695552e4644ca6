"""Answer-table measures for adaptive retrieval, registered with :func:`rag.evaluation.measures.register_measure`:

* ``AliasAcc`` - PopQA's rule (Mallen et al.): a gold alias (as-is, lower-cased or capitalised) occurs
  in the answer; reads ``answer`` and ``answers``.
* ``RetrievalRate`` - whether the question was answered with retrieval (``retrieved``, from ``Route``).
* ``LLMTokens`` - prompt + completion tokens spent on the question's answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rag.core.errors import InputError
from rag.evaluation.measures import register_measure
from rag.adaptive.correctness import alias_in_answer


def _one_row_per_question(table: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    missing = [c for c in ("qid", *columns) if c not in table.columns]
    if missing:
        raise InputError(f"{name} needs an answers table with column(s) {missing}", field=missing[0])
    return table.drop_duplicates("qid")


@dataclass(frozen=True)
class AliasAccuracy:
    """PopQA alias accuracy per question: 1 when a gold alias occurs in the answer (Mallen et al.)."""

    name: str = "AliasAcc"

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        t = _one_row_per_question(results, ("answer", "answers"), self.name)
        values = [float(alias_in_answer(a, g if not isinstance(g, str) else [g])) for a, g in zip(t["answer"], t["answers"])]
        return pd.Series(values, index=t["qid"].astype(str).to_numpy(), name=self.name)


@dataclass(frozen=True)
class RetrievalRate:
    """Per question: 1 when it was answered with retrieval (the ``retrieved`` column), else 0."""

    name: str = "RetrievalRate"

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        t = _one_row_per_question(results, ("retrieved",), self.name)
        return pd.Series(t["retrieved"].astype(float).to_numpy(), index=t["qid"].astype(str).to_numpy(), name=self.name)


@dataclass(frozen=True)
class LLMTokens:
    """Per question: prompt + completion tokens the LLM spent on its answer."""

    name: str = "LLMTokens"

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        t = _one_row_per_question(results, ("prompt_tokens", "completion_tokens"), self.name)
        return pd.Series((t["prompt_tokens"] + t["completion_tokens"]).astype(float).to_numpy(),
                         index=t["qid"].astype(str).to_numpy(), name=self.name)


register_measure("AliasAcc", lambda spec: AliasAccuracy())
register_measure("RetrievalRate", lambda spec: RetrievalRate())
register_measure("LLMTokens", lambda spec: LLMTokens())
