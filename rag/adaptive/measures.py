"""``AliasAcc``, PopQA's correctness rule (Mallen et al.): a gold alias (as-is, lower-cased or capitalised)
occurs in the answer; reads ``answer`` and ``answers`` (registered as a measure in :mod:`rag.core.registry`;
the cost measures ``RetrievalRate`` and ``LLMTokens`` are in :mod:`rag.evaluation.cost`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.adaptive.correctness import alias_in_answer
from rag.core.schema import require_columns


def _one_row_per_question(table: pd.DataFrame, columns: tuple[str, ...], name: str) -> pd.DataFrame:
    require_columns(table, ("qid", *columns), f"{name} (an answers measure)")
    return table.drop_duplicates("qid")


@dataclass(frozen=True)
class AliasAccuracy:
    """PopQA alias accuracy per question: 1 when a gold alias occurs in the answer (Mallen et al.)."""

    name: str = "AliasAcc"
    kind: ClassVar[str] = "correctness"
    better: ClassVar[str] = "higher"
    suits_verbose_answers: ClassVar[bool] = True   # a gold alias anywhere in the answer

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        t = _one_row_per_question(results, ("answer", "answers"), self.name)
        values = [float(alias_in_answer(a, g if not isinstance(g, str) else [g])) for a, g in zip(t["answer"], t["answers"])]
        return pd.Series(values, index=t["qid"].astype(str).to_numpy(), name=self.name)
