"""FollowIR evaluation of a pipeline: the headline score on the original run and qrels, and p-MRR."""
from __future__ import annotations

from typing import Any

from rag.core.stage import Stage
from rag.evaluation.pmrr import PMRR, split_paired_run
from rag.evaluation.scoring import evaluate
from retrievers.instruction_pair import InstructionPair


def evaluate_followir(pipeline: Stage, dataset: Any, split: str | None = None,
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
