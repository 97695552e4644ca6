"""The base of every first-stage retriever: the top ``k`` documents of the corpus for each query.

One vocabulary for every retriever (BM25 on Lucene or in process, dense, SPLADE):

``k``            how many documents per query;
``instruction``  how a query's ``instruction`` joins its text: ``ignore``, ``append`` or a template with
                 ``{query}`` and ``{instruction}`` (:mod:`retrievers.instructions`);
``rerank``       score only each query's given candidates (input ``docno``), not the whole corpus.

A subclass implements :meth:`Retriever.retrieve` (and :meth:`Retriever.score_candidates` when it can score
given documents faster than by searching the whole corpus); the base builds the result frame (the
queries' columns + ``docno``, ``score``, ``rank``) in one place.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from rag.core import params
from rag.core.errors import InputError
from rag.core.schema import add_ranks, questions_of, result_frame
from rag.core.stage import Stage
from rag.datasets import Corpus
from retrievers.instructions import check_mode, query_texts


MAX_K = 2**31 - 1   # hit counts are Java ints in Lucene


@dataclasses.dataclass(repr=False)
class Retriever(Stage):
    """Retrieve each query's top ``k`` documents of ``corpus`` (or re-score given candidates)."""

    corpus: Corpus
    k: int = dataclasses.field(default=1000, kw_only=True)
    instruction: str = dataclasses.field(default="append", kw_only=True)
    rerank: bool = dataclasses.field(default=False, kw_only=True)

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    # a subclass sets it when its top k for any k is the first k rows of its top k for a larger k (ties broken by
    # docno, as add_ranks does): then ``retriever % k`` asks it for k documents (Stage.fuse_cutoff)
    exact_cutoff: ClassVar[bool] = False

    def __post_init__(self) -> None:
        params.integer(self.k, "k", 1, MAX_K)
        params.flag(self.rerank, "rerank")
        self.check_instruction()

    def check_instruction(self) -> None:
        """Refuse an unknown ``instruction`` mode (a subclass with modes of its own extends this)."""
        check_mode(self.instruction)

    def fuse_cutoff(self, k: int) -> "Retriever | None":
        """This retriever asked for ``k`` documents per query, where its top ``k`` of more is exactly its top ``k``
        (:attr:`exact_cutoff`) and it searches the corpus (not ``rerank``); the copy shares what is loaded."""
        if not self.exact_cutoff or self.rerank or k >= self.k:
            return None
        fused = copy.copy(self)
        fused.k = k
        return fused

    # ------------------------------------------------------------------ what a subclass implements
    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:  # pragma: no cover - abstract
        """``qid, docno, score`` of the top ``k`` documents for each query text."""
        raise NotImplementedError

    def score_candidates(self, queries: pd.DataFrame, texts: list[str], candidates: pd.DataFrame) -> np.ndarray:
        """A score for each row of ``candidates`` (``qid, docno``); by default by searching the whole corpus
        (documents without a matching term score 0)."""
        hits = self.retrieve(texts, queries["qid"].astype(str).tolist(), len(self.corpus))
        scored = candidates[["qid", "docno"]].merge(hits, on=["qid", "docno"], how="left")
        return scored["score"].fillna(0.0).to_numpy(dtype="float64")

    # ------------------------------------------------------------------ the stage
    def query_texts(self, queries: pd.DataFrame) -> list[str]:
        return query_texts(queries, self.instruction)

    def rank(self, queries: pd.DataFrame, texts: list[str]) -> pd.DataFrame:
        """The ranking of ``queries`` (a subclass with a faster way to build it may override this)."""
        return result_frame(queries, self.retrieve(texts, queries["qid"].astype(str).tolist(), self.k))

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        queries = questions_of(frame)
        texts = self.query_texts(queries)
        if not self.rerank:
            return self.rank(queries, texts)
        if "docno" not in frame.columns:
            raise InputError(f"{self.name}(rerank=True) needs candidate documents (a 'docno' column)", field="docno")
        out = frame.drop(columns=[c for c in ("score", "rank") if c in frame.columns]).copy()
        out["score"] = self.score_candidates(queries, texts, out)
        return add_ranks(out)
