"""The utility judge as a pipeline stage: keep (and reorder) the passages that reach the reader."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pandas as pd

from rag.core.stage import Stage
from rag.judges.core import METHODS


@dataclasses.dataclass(repr=False)
class UtilityJudge(Stage):
    """Judge each query's top ``depth`` passages with ``method`` and keep the selected ones, in the judge's
    order (``keep_unselected=True`` keeps all, reordered). Adds ``judge_selected`` and cost columns."""

    llm: str | dict = "qwen-0.5b"
    method: str = "listwise-set"          # pointwise, pairwise, listwise-set, listwise-rank, k-sampling
    depth: int = 5
    k: int = 5                            # k-sampling samples
    aggregate: str = "majority"
    guard: bool = True                    # the data-not-instructions note in the system prompt
    keep_unselected: bool = False
    seed: int = 0
    client: Any = dataclasses.field(default=None, metadata={"config": False})

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "docno", "text")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank", "judge_selected")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown judge method {self.method!r}; use one of {sorted(METHODS)}")

    def config(self) -> dict[str, Any]:
        config = super().config()
        config["llm"] = self.client.name if self.client is not None else self.llm
        return config

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        from rag.llm import load_llm
        from rag.core.stage import add_ranks

        llm = load_llm(self.client or self.llm)
        ranked = frame if "rank" in frame.columns else add_ranks(frame)
        out = []
        for qid, group in ranked[ranked["rank"] < self.depth].groupby("qid", sort=False):
            group = group.sort_values("rank").reset_index(drop=True)
            question = str(group["query"].iloc[0])
            kwargs: dict[str, Any] = {"guard": self.guard}
            if self.method == "k-sampling":
                kwargs.update(k=self.k, aggregate=self.aggregate, seed=self.seed)
            judgment = METHODS[self.method](llm, question, group["text"].astype(str).tolist(), **kwargs)
            order = judgment.ranking if self.keep_unselected else judgment.selected
            kept = group.iloc[order].copy()
            kept["judge_selected"] = [i in judgment.selected for i in order]
            kept["score"] = [float(len(order) - r) for r in range(len(order))]
            kept["judge_unparsable"] = judgment.unparsable
            kept["judge_prompt_tokens"] = judgment.prompt_tokens
            kept["judge_completion_tokens"] = judgment.completion_tokens
            out.append(kept.drop(columns=["rank"]))
        if not out:
            return ranked.head(0).assign(judge_selected=pd.Series(dtype=bool))
        return add_ranks(pd.concat(out, ignore_index=True))
