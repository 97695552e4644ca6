"""Small stages that bring corpus content into a results table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import add_ranks, questions_of, result_frame
from rag.core.stage import Stage
from rag.datasets import Corpus, Dataset


@dataclass(repr=False)
class AddText(Stage):
    """Add the ``title`` and ``text`` of each result's document from the corpus.

    Texts come from the corpus's docstore (:meth:`Corpus.docstore`: a Lucene index's stored documents, an
    on-disk store built once per corpus content, or the documents of an in-memory corpus), each distinct
    document once; the corpus is never read whole. Not cached: a lookup costs less than storing and
    reading back a table of the same texts (10k passages in well under a second)."""

    corpus: Corpus
    needs: ClassVar[tuple[str, ...]] = ("qid", "docno")
    gives: ClassVar[tuple[str, ...]] = ("title", "text")
    cacheable: ClassVar[bool] = False

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        codes, docnos = pd.factorize(frame["docno"], use_na_sentinel=True)
        if (codes < 0).any():
            raise InputError(f"{int((codes < 0).sum())} result row(s) have no document id", field="docno")
        titles, texts = self.corpus.docstore().fetch([str(d) for d in docnos])
        out = frame.drop(columns=[c for c in ("title", "text") if c in frame.columns])
        out["title"] = np.asarray(titles, dtype=object)[codes].tolist()
        out["text"] = np.asarray(texts, dtype=object)[codes].tolist()
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


@dataclass(repr=False)
class GoldAmongDistractors(Stage):
    """Each query's relevant document(s) hidden among ``candidates - 1`` distractors: the top documents of
    ``pipeline`` that are not relevant, the gold one at a random position (seeded per query). The list's
    order is its ranking, so a judge or reader sees the gold passage anywhere - the setting of utility-judge
    studies (a judge keeping everything scores set precision 1/candidates, recall 1)."""

    pipeline: Stage            # where the distractors come from (e.g. BM25)
    dataset: Dataset
    candidates: int = 4        # list length: the gold document(s) plus distractors
    seed: int = 0              # the gold document's position is drawn per query from this seed
    split: str | None = None   # the dataset split whose qrels give the gold documents
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        import random

        if self.candidates < 2:
            raise InputError(f"candidates must be at least 2 (the gold passage and a distractor), got "
                             f"{self.candidates}", field="candidates")
        qrels = self.dataset.qrels(self.split)
        gold = qrels[qrels["label"] > 0].groupby("qid")["docno"].apply(list).to_dict()
        run = self.pipeline(frame)
        queries = frame.drop_duplicates("qid")
        rows = []
        for qid in queries["qid"].astype(str):
            golds = gold.get(qid, [])
            if not golds:
                continue
            ranked = run[run["qid"].astype(str) == qid].sort_values("rank")["docno"].astype(str)
            docs = [d for d in ranked if d not in golds][: max(self.candidates - len(golds), 0)]
            rng = random.Random(f"{self.seed}:{qid}")
            for g in golds:
                docs.insert(rng.randrange(len(docs) + 1), g)
            rows += [{"qid": qid, "docno": d, "score": float(len(docs) - i)} for i, d in enumerate(docs)]
        hits = pd.DataFrame(rows, columns=["qid", "docno", "score"])
        return result_frame(questions_of(frame), hits)
