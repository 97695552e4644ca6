"""FollowIR-style evaluation: run a pipeline with the original and with the changed instruction, score
the original run against the original qrels and report p-MRR (METHODS.md §2).

>>> pair = InstructionPair(CandidatePool(ds) >> DenseRetriever(ds.corpus, rerank=True))   # doctest: +SKIP
>>> Experiment({"MiniLM": pair}, ds, ["AP@1000", "p-MRR"]).run()                       # doctest: +SKIP

In a config: ``{instruction-pair: {pipeline: [candidates, {dense: {rerank: true}}]}}`` and measures
``[AP@1000, p-MRR]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.errors import InputError
from rag.evaluate import evaluate
from rag.pipeline import Stage
from rag.pmrr import CHANGED_SUFFIX, PMRR, split_paired_run


@dataclass(repr=False)
class InstructionPair(Stage):
    """Run ``pipeline`` twice: with each query's ``instruction`` and with its ``changed`` instruction.

    Output: the original run, followed by the changed-instruction run under query ids
    ``qid + "::changed"`` (ranking measures ignore those ids, which have no qrels; p-MRR pairs them).
    """

    pipeline: Stage
    changed: str = "instruction_changed"
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    cacheable: ClassVar[bool] = False   # the inner stages are cached one by one

    def config(self) -> dict:
        return {"pipeline": self.pipeline.fingerprint(), "changed": self.changed}

    def describe(self) -> str:
        return f"InstructionPair({self.pipeline.describe()})"

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.changed not in frame.columns:
            raise InputError(f"InstructionPair needs a {self.changed!r} column (the changed instruction) in the "
                             f"queries; they have {list(frame.columns)}", field=self.changed)
        original = self.pipeline(frame)
        changed_input = frame.assign(instruction=frame[self.changed])
        changed = self.pipeline(changed_input)
        changed["qid"] = changed["qid"].astype(str) + CHANGED_SUFFIX
        return pd.concat([original, changed], ignore_index=True)


def evaluate_followir(pipeline: Stage, dataset, split: str | None = None,
                      measure: str | None = None) -> dict[str, float]:
    """Headline score (on the original run and qrels; MAP@1000 or nDCG@5 by task) and p-MRR of ``pipeline``
    on a :class:`~rag.datasets.followir.FollowIRDataset`."""
    measure = measure or dataset.headline_measure()
    queries = dataset.queries(split)
    results = InstructionPair(pipeline)(queries)
    run_og, _ = split_paired_run(results)
    score = evaluate(run_og, dataset.qrels(split), [measure], qids=queries["qid"])[measure]
    pmrr = PMRR().bind_dataset(dataset, split).per_query(results, dataset.qrels(split))
    return {measure: score, "p-MRR": float(pmrr.mean()) if len(pmrr) else float("nan")}
