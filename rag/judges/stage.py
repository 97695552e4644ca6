"""The utility judge as a pipeline stage: keep (and reorder) the passages that reach the reader."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pandas as pd

from rag.core.stage import deprecated_params
from rag.judges.core import METHODS, judge_many
from rag.llm.stage import LLMStage, add_cost
from rerankers.base import Reranker


@deprecated_params(client="llm", k="samples", keep_unselected="keep_rest")
@dataclasses.dataclass(repr=False)
class UtilityJudge(LLMStage, Reranker):
    """Judge each query's top ``depth`` passages with ``method`` and keep the selected ones, in the judge's
    order; with ``keep_rest`` the others stay below them (the unselected in the judge's order, then those
    below ``depth``). Adds ``judge_selected``, ``judge_unparsable`` and the LLM cost. A query the judge keeps
    nothing for has no row left: a reader after it answers that question without passages."""

    method: str = "listwise-set"          # pointwise, pairwise, listwise-set, listwise-rank, k-sampling
    samples: int = 5                      # k-sampling: how many shuffled judgements are aggregated
    aggregate: str = "majority"   # k-sampling vote: majority, union or intersection
    guard: bool = True                    # the data-not-instructions note in the system prompt
    seed: int = 0
    depth: int = dataclasses.field(default=5, kw_only=True)
    instruction: str = dataclasses.field(default="ignore", kw_only=True)
    keep_rest: bool = dataclasses.field(default=False, kw_only=True)

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "docno", "text")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank", "judge_selected")

    def __post_init__(self) -> None:
        Reranker.__post_init__(self)
        if self.method not in METHODS:
            raise ValueError(f"unknown judge method {self.method!r}; use one of {sorted(METHODS)}")

    def rescore(self, top: pd.DataFrame) -> pd.DataFrame:
        groups = [group.sort_values("rank").reset_index(drop=True) for _, group in top.groupby("qid", sort=False)]
        if not groups:
            return top.head(0).assign(judge_selected=pd.Series(dtype=bool))
        options: dict[str, Any] = {"guard": self.guard}
        if self.method == "k-sampling":
            options.update(k=self.samples, aggregate=self.aggregate, seed=self.seed)
        judgments = judge_many(self.client, self.method, [self.query_texts(g.head(1))[0] for g in groups],
                               [self.passages(g) for g in groups], desc=f"{self.name} ({self.method})", **options)
        out = []
        for group, judgment in zip(groups, judgments):
            order = judgment.ranking if self.keep_rest else judgment.selected
            kept = group.iloc[order].copy()
            kept["judge_selected"] = [i in judgment.selected for i in order]
            kept["score"] = [float(len(order) - r) for r in range(len(order))]
            kept["judge_unparsable"] = judgment.unparsable
            kept["judge_prompt_tokens"] = judgment.prompt_tokens
            kept["judge_completion_tokens"] = judgment.completion_tokens
            # the question's cost on each of its rows (cost measures count a question once)
            out.append(add_cost(kept, [judgment.prompt_tokens] * len(kept), [judgment.completion_tokens] * len(kept),
                                [judgment.seconds] * len(kept)))
        return pd.concat(out)
