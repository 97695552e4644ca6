"""The utility judge as a pipeline stage: keep (and reorder) the passages that reach the reader."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rag.core import params
from rag.judges.core import AGGREGATES, METHODS, judge_many
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
        if top.empty:
            return top.head(0).assign(judge_selected=pd.Series(dtype=bool))
        codes = pd.factorize(top["qid"])[0]
        ranked = top.iloc[np.lexsort((top["rank"].to_numpy(), codes))]     # queries in input order, by rank
        starts = np.flatnonzero(np.r_[True, np.diff(codes[np.lexsort((top["rank"].to_numpy(), codes))]) != 0])
        ends = np.r_[starts[1:], len(ranked)]
        texts = self.passages(ranked)
        options: dict[str, Any] = {"guard": self.guard}
        if self.method == "k-sampling":
            options.update(samples=self.samples, aggregate=self.aggregate, seed=self.seed)
        judgments = judge_many(self.client, self.method, self.query_texts(ranked.iloc[starts]),
                               [texts[a:b] for a, b in zip(starts, ends)], desc=f"{self.name} ({self.method})",
                               **options)
        rows: list[int] = []
        selected: list[bool] = []
        score: list[float] = []
        per_row: dict[str, list[float]] = {"unparsable": [], "prompt": [], "completion": [], "seconds": []}
        for start, judgment in zip(starts, judgments):
            order = judgment.ranking if self.keep_rest else judgment.selected
            chosen = set(judgment.selected)
            rows.extend(int(start) + i for i in order)
            selected.extend(i in chosen for i in order)
            score.extend(float(len(order) - r) for r in range(len(order)))
            for column, value in (("unparsable", judgment.unparsable), ("prompt", judgment.prompt_tokens),
                                  ("completion", judgment.completion_tokens), ("seconds", judgment.seconds)):
                per_row[column].extend([value] * len(order))
        kept = ranked.iloc[rows].copy()
        kept["judge_selected"] = selected
        kept["score"] = score
        kept["judge_unparsable"] = np.asarray(per_row["unparsable"], dtype="int64")
        kept["judge_prompt_tokens"] = np.asarray(per_row["prompt"], dtype="int64")
        kept["judge_completion_tokens"] = np.asarray(per_row["completion"], dtype="int64")
        # the question's cost on each of its rows (cost measures count a question once)
        return add_cost(kept, per_row["prompt"], per_row["completion"], per_row["seconds"])
