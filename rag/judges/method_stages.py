"""TICK and Meta Ranking as pipeline stages after a reader: their judgments are kept per question in the run.

* ``tick`` (:class:`TickJudge`): ``tick_checklist``, ``tick_verdicts`` (per sample, per item: true/false/null),
  ``tick_samples`` (score per sample), ``tick_score`` (their mean), ``tick_unparsable``.
* ``meta-ranking`` (:class:`MetaRankingSignal`): ``meta_ranking`` (mean vote in [-1, 1]) and
  ``meta_ranking_votes``; also a routing signal: ``confidence-threshold: {signal: meta_ranking, threshold: ...}``
  retrieves when the closed-book answer looks unreliable (cost column ``tokens_meta_ranking``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import pandas as pd

from rag.core.errors import InputError
from rag.datasets import Dataset
from rag.judges.checklist import tick
from rag.judges.meta_ranking import meta_ranking, read_references, references_from
from rag.llm.stage import LLMStage, add_cost


def instruction_texts(frame: pd.DataFrame) -> list[str]:
    """What a response was asked to do: the question, after the ``instruction`` when the table has one."""
    queries = frame["query"].fillna("").astype(str)
    if "instruction" not in frame.columns:
        return queries.tolist()
    return [f"{i}\n{q}".strip() if isinstance(i, str) and i else q for i, q in zip(frame["instruction"], queries)]


@dataclasses.dataclass(repr=False)
class TickJudge(LLMStage):
    """Judge each answer with TICK (checklist once per question, YES/NO per item, ``samples`` times)."""

    samples: int = 1                  # judge samples per answer
    temperature: float = 0.0          # > 0 when samples > 1
    seed: int = 0
    max_items: int = 8                # checklist items kept

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "answer")
    version: ClassVar[str] = "2"      # 2: checklist parsing of inline-numbered, repeated replies
    gives: ClassVar[tuple[str, ...]] = ("tick_checklist", "tick_verdicts", "tick_samples", "tick_score",
                                        "tick_unparsable")

    def __post_init__(self) -> None:
        check_sampling(self.samples, self.temperature)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.drop_duplicates("qid").reset_index(drop=True)
        results = tick(self.client, instruction_texts(out), out["answer"].fillna("").astype(str).tolist(),
                       self.samples, self.temperature, self.seed, self.max_items)
        out["tick_checklist"] = [r.checklist for r in results]
        out["tick_verdicts"] = [r.verdicts for r in results]
        out["tick_samples"] = [r.scores for r in results]
        out["tick_score"] = [r.score for r in results]
        out["tick_unparsable"] = [r.unparsable for r in results]
        return add_cost(out, [r.prompt_tokens for r in results], [r.completion_tokens for r in results],
                        [r.seconds for r in results])


def check_sampling(samples: Any, temperature: float) -> None:
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise InputError(f"samples must be a positive integer, got {samples!r}", field="samples")
    if samples > 1 and temperature <= 0:
        raise InputError(f"sampling a judge {samples} times at temperature {temperature} gives {samples} identical "
                         "verdicts; set temperature > 0 (e.g. 0.7)", field="temperature")


@dataclasses.dataclass(repr=False)
class MetaRankingSignal(LLMStage):
    """Meta Ranking reliability of each (query, answer): ``references`` written in the config
    (``{query, response, correct}``), else ``n_references`` pairs built from the data set's labelled questions."""

    references: list[dict] | None = None   # reference pairs {query, response, correct}; default: from the data set
    n_references: int = 5                 # pairs built from the data set's labelled questions
    both_orders: bool = True              # ask each comparison in both orders
    combine: Literal["probabilities", "votes"] = "probabilities"   # both orders: average probabilities, or votes
    dataset: Dataset | None = dataclasses.field(default=None, metadata={"config": False})   # filled by the experiment

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "answer")
    gives: ClassVar[tuple[str, ...]] = ("meta_ranking", "meta_ranking_votes", "tokens_meta_ranking")

    def __post_init__(self) -> None:
        if self.references is not None:
            read_references(self.references)
        elif self.n_references < 1:
            raise InputError(f"n_references must be positive, got {self.n_references!r}", field="n_references")

    def reference_pairs(self):
        if self.references is not None:
            return read_references(self.references)
        if self.dataset is None:
            raise InputError("meta-ranking needs reference pairs: give references: [{query, response, correct}, "
                             "...] or run it in an experiment whose data set has gold answers", field="references")
        return references_from(self.dataset.queries(self.dataset.default_split), self.n_references)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.references is not None or self.dataset is not None:
            cfg["references"] = [vars(r) for r in self.reference_pairs()]
        return cfg

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        questions = out.drop_duplicates("qid")
        refs = self.reference_pairs()
        results = meta_ranking(self.client, questions["query"].astype(str).tolist(),
                               questions["answer"].fillna("").astype(str).tolist(), refs, self.both_orders,
                               self.combine)
        by_qid = dict(zip(questions["qid"].astype(str), results))
        ids = out["qid"].astype(str)
        out["meta_ranking"] = [by_qid[q].score for q in ids]
        out["meta_ranking_votes"] = [by_qid[q].votes for q in ids]
        out["tokens_meta_ranking"] = len(refs) * (2 if self.both_orders else 1)   # one scored token per comparison
        return out
