"""FollowIR-style instruction pairs: run a pipeline with the original and with the changed instruction
(the changed run is scored by p-MRR, METHODS.md §2; see :mod:`rag.evaluation.followir`).

>>> pair = InstructionPair(CandidatePool(ds) >> DenseRetriever(ds.corpus, rerank=True))   # doctest: +SKIP
>>> Experiment({"MiniLM": pair}, ds, ["AP@1000", "p-MRR"]).run()                       # doctest: +SKIP

In a config: ``{instruction-pair: {pipeline: [candidates, {dense: {rerank: true}}]}}`` and measures
``[AP@1000, p-MRR]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import CHANGED_SUFFIX
from rag.core.stage import Stage


@dataclass(repr=False)
class InstructionPair(Stage):
    """Run ``pipeline`` twice: with each query's ``instruction`` and with its ``changed`` instruction.

    Output: the original run, followed by the changed-instruction run under query ids
    ``qid + "::changed"`` (ranking measures ignore those ids, which have no qrels; p-MRR pairs them).
    """

    pipeline: Stage
    changed: str = "instruction_changed"   # the query column holding the changed instruction
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    cacheable: ClassVar[bool] = False   # the inner stages are cached one by one

    def config(self) -> dict:
        return {"pipeline": self.pipeline.fingerprint(), "changed": self.changed}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.changed not in frame.columns:
            raise InputError(f"InstructionPair needs a {self.changed!r} column (the changed instruction) in the "
                             f"queries; they have {list(frame.columns)}", field=self.changed)
        original = self.pipeline(frame)
        changed_input = frame.assign(instruction=frame[self.changed])
        changed = self.pipeline(changed_input)
        changed["qid"] = changed["qid"].astype(str) + CHANGED_SUFFIX
        return pd.concat([original, changed], ignore_index=True)
