"""Rephrase-and-Respond (Deng et al., arXiv 2311.04205; prompts: METHODS.md §8.1).

* ``rephrase`` (:class:`Rephrase`): two-step RaR's first step. Writes ``rephrased_query``; with
  ``target="query"`` it also replaces ``query`` (the retriever then searches with the rephrased question; the
  question as asked stays in ``original_query``); with ``target="question"`` ``query`` is left alone and a
  ``rar`` reader with ``mode="two-step"`` answers through the rephrasing.
* ``rar`` (:class:`RaRReader`): a closed-book reader that answers with RaR's prompts: ``one-step`` (rephrase,
  expand and respond in one prompt), ``two-step`` (the rephrasing from a ``rephrase`` stage before it, possibly
  with another LLM; made here with this reader's LLM when there is none) or ``direct`` (RaR's baseline prompt).
* ``original-query`` (:class:`OriginalQuery`): puts the question as asked back into ``query``.

RaR called the OpenAI API without setting the temperature (API default 1.0); ragif decodes greedily by default
(``temperature`` is a parameter) so that runs are reproducible.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import DOCUMENT_COLUMNS
from rag.core.stage import Stage
from rag.llm.stage import LLMStage, add_cost, generation_cost
from rag.readers.prompts import Template
from rag.readers.reader import Reader
from rag.rewriting import prompts


def questions_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per ``qid`` with the question columns (document columns dropped)."""
    keep = [c for c in frame.columns if c not in DOCUMENT_COLUMNS]
    return frame.drop_duplicates("qid")[keep].reset_index(drop=True)


def as_asked(frame: pd.DataFrame) -> pd.Series:
    """The question as asked: ``original_query`` where an earlier rewriter kept it, else ``query``."""
    if "original_query" in frame.columns:
        return frame["original_query"].where(frame["original_query"].notna(), frame["query"]).astype(str)
    return frame["query"].astype(str)


def rewrite_queries(frame: pd.DataFrame, qids: list[str], new: list[str]) -> pd.DataFrame:
    """``frame`` with ``query`` replaced per qid and the question as asked kept in ``original_query``."""
    out = frame.copy()
    out["original_query"] = as_asked(out)
    mapping = dict(zip(qids, new))
    out["query"] = out["qid"].astype(str).map(mapping).fillna(out["query"])
    return out


def per_question_cost(frame: pd.DataFrame, qids: list[str], gens: list[Any]) -> pd.DataFrame:
    """``frame`` with each question's LLM cost added on its rows (a question's cost is read from one row)."""
    by_qid: dict[str, tuple[int, int, float]] = {}
    for qid, gen in zip(qids, gens):
        p, c, s = generation_cost([gen] if not isinstance(gen, list) else gen)
        old = by_qid.get(qid, (0, 0, 0.0))
        by_qid[qid] = (old[0] + p, old[1] + c, old[2] + s)
    ids = frame["qid"].astype(str)
    return add_cost(frame, [by_qid.get(q, (0, 0, 0.0))[0] for q in ids], [by_qid.get(q, (0, 0, 0.0))[1] for q in ids],
                    [by_qid.get(q, (0, 0, 0.0))[2] for q in ids])


@dataclasses.dataclass(repr=False)
class Rephrase(LLMStage):
    """RaR step 1: the LLM rephrases and expands each question (``rephrased_query``); ``target="query"`` makes
    it the query of the stages after it (the question as asked stays in ``original_query``)."""

    target: Literal["query", "question"] = "query"   # query: replace `query`; question: only add rephrased_query
    max_tokens: int = 128                            # budget of the rephrasing
    temperature: float = 0.0
    seed: int = 0

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("rephrased_query", "original_query")

    def __post_init__(self) -> None:
        if self.target not in ("query", "question"):
            raise InputError(f"target must be 'query' or 'question', got {self.target!r}", field="target")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = questions_table(frame)
        asked = as_asked(questions).tolist()
        gens = self.generate([prompts.rar_rephrase(q) for q in asked], desc="RaR rephrasing", max_tokens=self.max_tokens, temperature=self.temperature,
                             seed=self.seed)
        qids = questions["qid"].astype(str).tolist()
        rephrased = [prompts.strip_quotes(g.text) or q for g, q in zip(gens, asked)]
        mapping = dict(zip(qids, rephrased))
        out = frame.copy()
        out["original_query"] = as_asked(out)
        out["rephrased_query"] = out["qid"].astype(str).map(mapping)
        if self.target == "query":
            out["query"] = out["rephrased_query"]
        return per_question_cost(out, qids, gens)


@dataclasses.dataclass(repr=False)
class OriginalQuery(Stage):
    """Put the question as asked (``original_query``) back into ``query``."""

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("query",)
    cacheable: ClassVar[bool] = False

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["query"] = as_asked(out)
        return out


@dataclasses.dataclass(repr=False)
class RaRReader(Reader):
    """Closed-book answers with RaR's prompts: ``one-step``, ``two-step`` (uses ``rephrased_query`` from a
    ``rephrase`` stage, or rephrases with this reader's LLM) or ``direct`` (RaR's baseline). ``spec`` is the
    task's format line (empty for open QA); ``wording`` picks RaR's GPT-4 or GPT-3.5 phrasing."""

    mode: Literal["one-step", "two-step", "direct"] = "one-step"   # RaR variant, or RaR's baseline prompt
    spec: str = ""                        # the task's answer-format line (RaR config.json; empty for open QA)
    wording: Literal["gpt-4", "gpt-3.5"] = "gpt-4"   # RaR's GPT-4 or GPT-3.5 phrasing
    rephrase_tokens: int = 128            # two-step without a rephrase stage: budget of the rephrasing
    template: str = "{query}"             # (fixed: RaR builds its own prompts)
    passages: int = 0                     # closed-book
    max_tokens: int = 256                 # answer budget

    gives: ClassVar[tuple[str, ...]] = (*Reader.gives, "rar_prompt")
    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("one-step", "two-step", "direct"):
            raise InputError(f"mode must be 'one-step', 'two-step' or 'direct', got {self.mode!r}", field="mode")
        prompts.wording(self.wording, prompts.RAR_ONE_STEP)


    def _template(self) -> Template:
        return Template("{query}", needs_passages=False, closed_book="closed_book")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = questions_table(frame)
        asked = as_asked(questions).tolist()
        extra: list[Any] = []
        if self.mode == "one-step":
            texts = [prompts.rar_one_step(q, self.spec, self.wording) for q in asked]
        elif self.mode == "direct":
            texts = [prompts.RAR_BASELINE.format(question=q, spec=self.spec) for q in asked]
        else:
            if "rephrased_query" in questions.columns:
                rephrased = questions["rephrased_query"].astype(str).tolist()
            else:
                extra = self.generate([prompts.rar_rephrase(q) for q in asked], desc="RaR rephrasing", max_tokens=self.rephrase_tokens,
                                      temperature=self.temperature, seed=self.seed)
                rephrased = [prompts.strip_quotes(g.text) or q for g, q in zip(extra, asked)]
                questions["rephrased_query"] = rephrased
            texts = [prompts.rar_respond(q, r, self.spec, self.wording) for q, r in zip(asked, rephrased)]
        out = super().transform(questions.assign(query=texts))
        out["rar_prompt"] = out["query"]
        out["query"] = asked
        if "original_query" in out.columns:
            out = out.drop(columns="original_query")
        if extra:
            out = per_question_cost(out, out["qid"].astype(str).tolist(), extra)
        return out
