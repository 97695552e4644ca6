"""Small stages that bring corpus content into a results table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.stage import Stage, add_ranks
from rag.datasets import Corpus, Dataset


@dataclass(repr=False)
class AddText(Stage):
    """Add the ``title`` and ``text`` of each result's document from the corpus."""

    corpus: Corpus
    needs: ClassVar[tuple[str, ...]] = ("qid", "docno")
    gives: ClassVar[tuple[str, ...]] = ("title", "text")
    cacheable: ClassVar[bool] = False

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        docs = self.corpus.documents(frame["docno"].unique().tolist()).set_index("docno")
        out = frame.drop(columns=[c for c in ("title", "text") if c in frame.columns])
        out["title"] = out["docno"].map(docs["title"]).tolist()
        out["text"] = out["docno"].map(docs["text"]).tolist()
        return out


@dataclass(repr=False)
class CandidatePool(Stage):
    """The dataset's candidate pool of each query (re-ranking tasks such as BIRCO and FollowIR).

    Output: the queries' columns + ``docno``, ``score`` (the pool's first-stage score, 0 when it has
    none) and ``rank``.
    """

    dataset: Dataset
    split: str | None = None   # the dataset split whose candidates are used (default: the experiment's)
    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        pool = self.dataset.candidates(self.split)
        unknown = set(frame["qid"]) - set(pool["qid"])
        if unknown:
            raise InputError(f"{len(unknown)} query id(s) have no candidate pool, e.g. {sorted(unknown)[:3]}",
                             field="qid")
        out = frame.merge(pool[["qid", "docno", "score"]], on="qid", how="inner")
        return add_ranks(out)


@dataclass(repr=False)
class QrelsOracle(Stage):
    """Each query's judged documents with at least ``min_label``, best label first: the oracle retriever
    (e.g. NQ's gold passage), an upper bound on what retrieval can give a reader. Score = the label."""

    dataset: Dataset
    split: str | None = None   # the dataset split whose qrels are used (default: the experiment's)
    min_label: int = 1         # the lowest label taken as relevant
    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        qrels = self.dataset.qrels(self.split)
        relevant = qrels[qrels["label"] >= self.min_label][["qid", "docno", "label"]]
        out = frame.merge(relevant.rename(columns={"label": "score"}), on="qid", how="inner")
        out["score"] = out["score"].astype("float64")
        return add_ranks(out)
