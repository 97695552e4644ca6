"""The routing stage: answer each question closed-book or with retrieval, as a policy decides.

>>> reader = ShortAnswerer(llm)                                                     # doctest: +SKIP
>>> rag = LuceneBM25(corpus) % 1 >> AddText(corpus) >> ShortAnswerer(llm, passages=1)      # doctest: +SKIP
>>> confident = reader >> AnswerConfidence() >> ConfidenceThreshold(threshold=0.6)  # doctest: +SKIP
>>> answers = Route(policy=confident, recall=reader, retrieve=rag)(queries)        # doctest: +SKIP

The policy sees the queries table; when it is a pipeline that already produced the closed-book answer
(confidence policies), those answers are kept for the questions it does not send to retrieval, and
``recall`` is not run again. Questions sent to retrieval go, with their original query columns, through
``retrieve``. The output has one row per question, in the input's order, with ``retrieved`` (bool)
and the policy's own columns (``route_score``, signals) where the answer stage did not write them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.stage import Stage


@dataclass(repr=False)
class Route(Stage):
    """Send each question to ``recall`` (closed-book) or ``retrieve`` (RAG) according to ``policy``."""

    policy: Stage   # decides per question: a stage writing a 'retrieve' column
    recall: Stage   # answers without retrieval (closed-book)
    retrieve: Stage   # answers with retrieval (a RAG pipeline)

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "retrieved")
    cacheable: ClassVar[bool] = False  # its parts are cached one by one

    def transform(self, queries: pd.DataFrame) -> pd.DataFrame:
        if queries["qid"].duplicated().any():
            raise InputError("Route expects a queries table (one row per question)", field="qid")
        decided = self.policy(queries)
        if "retrieve" not in decided.columns:
            raise InputError(f"the policy {self.policy.describe()} did not write a 'retrieve' column",
                             field="retrieve")
        decided = decided.drop_duplicates("qid").set_index("qid")
        missing = queries.loc[~queries["qid"].isin(decided.index), "qid"]
        if len(missing):
            raise InputError(f"the policy dropped {len(missing)} question(s), e.g. {missing.iloc[0]!r}", field="qid")
        to_retrieve = decided.loc[queries["qid"], "retrieve"].astype(bool).to_numpy()
        parts = []
        if to_retrieve.any():
            answered = self.retrieve(queries[to_retrieve].reset_index(drop=True))
            extra = [c for c in decided.columns if c not in answered.columns and c != "retrieve"]
            if extra and "qid" in answered.columns:
                answered = answered.merge(decided[extra], left_on="qid", right_index=True, how="left")
            parts.append(answered.assign(retrieved=True))
        if (~to_retrieve).any():
            recall_queries = queries[~to_retrieve].reset_index(drop=True)
            if "answer" in decided.columns:
                recalled = decided.loc[recall_queries["qid"]].reset_index().drop(columns="retrieve")
            else:
                recalled = self.recall(recall_queries)
            parts.append(recalled.assign(retrieved=False))
        out = pd.concat(parts, ignore_index=True)
        if out["qid"].duplicated().any():
            raise InputError("an answer stage returned several rows per question; Route needs one answer each",
                             field="qid")
        order = {q: i for i, q in enumerate(queries["qid"])}
        return out.sort_values("qid", key=lambda s: s.map(order), kind="mergesort").reset_index(drop=True)

    def describe(self) -> str:
        return (f"Route(policy={self.policy.describe()}, recall={self.recall.describe()}, "
                f"retrieve={self.retrieve.describe()})")
