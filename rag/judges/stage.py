"""The utility judge as a pipeline stage: keep (and reorder) the passages that reach the reader."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pandas as pd

from rag.core.progress import progress
from rag.core import params
from rag.judges.core import AGGREGATES, METHODS
from rag.llm.stage import LLMStage, add_cost
from rerankers.base import Reranker


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

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "docno", "text")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank", "judge_selected")

    def __post_init__(self) -> None:
        Reranker.__post_init__(self)
        params.choice(self.method, sorted(METHODS), "method")
        params.choice(self.aggregate, AGGREGATES, "aggregate")
        params.integer(self.samples, "samples")

    def rescore(self, top: pd.DataFrame) -> pd.DataFrame:
        out = []
        groups = top.groupby("qid", sort=False)
        for _, group in progress(groups, total=groups.ngroups, desc=f"utility judge ({self.method})",
                                 unit="question"):
            group = group.sort_values("rank").reset_index(drop=True)
            question = self.query_texts(group.head(1))[0]
            kwargs: dict[str, Any] = {"guard": self.guard}
            if self.method == "k-sampling":
                kwargs.update(k=self.samples, aggregate=self.aggregate, seed=self.seed)
            judgment = METHODS[self.method](self.client, question, self.passages(group), **kwargs)
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
        if not out:
            return top.head(0).assign(judge_selected=pd.Series(dtype=bool))
        return pd.concat(out)
