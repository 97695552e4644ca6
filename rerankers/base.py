"""The base of every reranker and judge: re-score (or select) each query's top ``depth`` documents.

One vocabulary for every reranking stage (cross-encoder, LLM pointwise / listwise, utility judge):

``depth``        how many of each query's top documents (by input rank) are re-scored;
``instruction``  how a query's ``instruction`` joins the query text: ``ignore``, ``append`` or a template
                 with ``{query}`` and ``{instruction}`` (:mod:`retrievers.instructions`);
``keep_rest``    whether the documents the stage did not put on top (those below ``depth``, and for a judge
                 those it did not select) stay in the ranking, under the re-scored ones in their old order.
                 The default, for every reranker and judge, is ``False``: a stage gives what it re-scored
                 (its top ``depth``; a judge, what it selected), as ``bm25 % depth >> reranker`` does in
                 PyTerrier, so a reader after a judge reads only the selected passages.

A subclass implements :meth:`Reranker.rescore` (the top documents of all queries in, the same rows with a
new ``score`` out; a judge may leave rows out) and nothing else.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import pandas as pd

from rag.core import params
from rag.core.errors import InputError
from rag.core.schema import add_ranks
from rag.core.stage import Stage
from rag.datasets import Corpus
from retrievers.instructions import check_mode, query_texts


@dataclasses.dataclass(repr=False)
class Reranker(Stage):
    """Re-score each query's top ``depth`` documents; the rest stays below them (``keep_rest``) or goes."""

    depth: int = dataclasses.field(default=100, kw_only=True)
    instruction: str = dataclasses.field(default="append", kw_only=True)
    keep_rest: bool = dataclasses.field(default=False, kw_only=True)

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "docno")
    gives: ClassVar[tuple[str, ...]] = ("score", "rank")

    def __post_init__(self) -> None:
        params.integer(self.depth, "depth")
        params.flag(self.keep_rest, "keep_rest")
        check_mode(self.instruction)

    # ------------------------------------------------------------------ what a subclass implements
    def rescore(self, top: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        """``top`` (each query's top ``depth`` rows, in rank order) with a new ``score`` per row."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for subclasses
    def query_texts(self, frame: pd.DataFrame) -> list[str]:
        """The model-side query text of every row (``query`` joined with ``instruction`` by the mode)."""
        return query_texts(frame, self.instruction)

    def passages(self, frame: pd.DataFrame, corpus: Corpus | None = None, with_title: bool = False) -> list[str]:
        """Passage text of every row: the ``text`` column (``title`` on its own line first when asked), else
        looked up in ``corpus``."""
        if "text" in frame.columns:
            texts = frame["text"].fillna("").astype(str)
            if with_title and "title" in frame.columns:
                titles = frame["title"].fillna("").astype(str)
                return [f"{t}\n{x}" if t else x for t, x in zip(titles, texts)]
            return texts.tolist()
        if corpus is None:
            raise InputError(f"{self.name} needs passage texts: a 'text' column in its input (add-text) or a "
                             "corpus", field="text")
        return corpus.texts(frame["docno"].astype(str).tolist(), with_title=with_title)

    # ------------------------------------------------------------------ the stage
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        ranked = ranked_input(frame)
        top = ranked[ranked["rank"] < self.depth].reset_index(drop=True)
        scored = self.rescore(top) if len(top) else top.assign(score=pd.Series(dtype="float64"))
        if self.keep_rest:
            dropped = top[~top.index.isin(scored.index)] if len(scored) < len(top) else top.head(0)
            scored = keep_below(scored, pd.concat([dropped, ranked[ranked["rank"] >= self.depth]]))
        return add_ranks(scored.drop(columns=["rank"]).reset_index(drop=True))


def ranked_input(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``rank`` per query: the given one, else by score, else by row order."""
    if "rank" in frame.columns:
        return frame
    if "score" in frame.columns:
        return add_ranks(frame)
    return frame.assign(rank=frame.groupby("qid", sort=False).cumcount())


def keep_below(scored: pd.DataFrame, rest: pd.DataFrame) -> pd.DataFrame:
    """``scored`` (a query's re-scored top documents) with ``rest`` under them: each query's rest keeps
    its old ``rank`` order, scored below that query's lowest re-scored document."""
    if rest.empty:
        return scored
    floor = scored.groupby("qid")["score"].min().reindex(rest["qid"]).fillna(0.0).to_numpy()
    rest = rest.assign(score=floor - 1.0 - rest["rank"].to_numpy(dtype=float))
    return pd.concat([scored, rest], ignore_index=True)


def with_scores(top: pd.DataFrame, scores: np.ndarray | list[float]) -> pd.DataFrame:
    """``top`` with its ``score`` column replaced."""
    return top.assign(score=np.asarray(scores, dtype="float64"))
