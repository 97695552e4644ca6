"""The reader stage: answer each question from the passages that reach it (or closed-book) with an LLM.

>>> reader = Reader(llm="qwen-0.5b", template="qa", passages=5)                  # doctest: +SKIP
>>> answers = (bm25 % 5 >> reader)(queries)                               # doctest: +SKIP

Input: a ranking (``qid, query, docno, score/rank`` and ``text``/``title``, or a ``corpus`` to fetch
them from), or a queries table for a closed-book reader. Every question gets exactly one answer: a
question with no passage (a queries table, ``k=0``, or a row without ``docno``, which a pipeline adds
for a question that earlier stages kept nothing for) is answered with the template's closed-book
counterpart, or not at all with ``no_passage="abstain"`` (empty answer). Output: one row per question
with the query columns, ``answer`` (cleaned by the template's rule), ``raw_answer``, ``contexts`` (texts
of the passages in the prompt: the evidence for faithfulness), ``context_titles``, ``context_docnos``,
``passages`` (how many), ``prompt``, ``retrieved``, ``answer_logprobs`` (with ``logprobs=True``), the
call's ``prompt_tokens``, ``completion_tokens``, ``latency_s``, ``cached``, and the pipeline's
per-question cost columns.

Defaults follow instruct-qa's README (k=8, max 500 new tokens, post-processing on) except decoding:
greedy (temperature 0) instead of the paper's nucleus sampling (T=0.95, top-p 0.95); set
``temperature`` to sample.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Literal

import pandas as pd

from rag.core import params
from rag.core.errors import ConfigError, InputError
from rag.core.schema import DOCUMENT_COLUMNS, questions_of
from rag.datasets import Corpus
from rag.llm import Generation
from rag.llm.stage import LLMStage, add_cost
from rag.readers.prompts import TEMPLATES, Template, clean_answer, render_prompt

log = logging.getLogger(__name__)

__all__ = ["Reader", "ShortAnswerer", "clean_answer"]


@dataclasses.dataclass(repr=False)
class Reader(LLMStage):
    """Answer each question with an LLM from its top ``passages`` passages (closed-book when it has none)."""

    template: str = "qa"                    # a name in rag.readers.prompts.TEMPLATES, or a template string
    passages: int = 8                       # how many of each question's top passages go into its prompt
    max_tokens: int = 500
    temperature: float = 0.0
    seed: int = 0
    post_process: bool = True               # clean the answer by the template's rule
    no_passage: Literal["closed-book", "abstain"] = "closed-book"   # a question with no passage: answer closed-book, or abstain (empty answer)
    logprobs: bool = False                  # keep the answer tokens' log-probabilities (answer_logprobs)
    stop: list[str] | None = None
    corpus: Corpus | None = dataclasses.field(default=None, metadata={"config": False})

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "raw_answer", "contexts", "context_titles", "context_docnos",
                                        "passages", "prompt", "retrieved", "prompt_tokens", "completion_tokens",
                                        "latency_s", "cached")
    version: ClassVar[str] = "2"
    answers_questions: ClassVar[bool] = True

    def __post_init__(self) -> None:
        params.integer(self.passages, "passages", 0)
        if self.template not in TEMPLATES and "{query}" not in str(self.template):
            raise ConfigError(f"unknown template {self.template!r}: use one of {sorted(TEMPLATES)} or a custom "
                              "string containing {query}", field="template")
        params.choice(self.no_passage, ("closed-book", "abstain"), "no_passage")

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self.corpus is not None:
            cfg["corpus"] = self.corpus.fingerprint()
        return cfg

    def needed_columns(self) -> tuple[str, ...]:
        """A reader that answers from passages needs a ranking (``docno``) and, without a corpus, its ``text``."""
        if self.passages == 0 or not self._template().needs_passages:
            return tuple(self.needs)
        return (*self.needs, "docno", *(() if self.corpus is not None else ("text",)))

    def column_hint(self, column: str) -> str:
        if column == "docno":
            return (f"template {self.template!r} answers from passages: put a retriever before the reader, or use "
                    f"template='closed_book' (or passages=0)")
        return "add the passages' text (an add-text stage) or give the reader a corpus" if column == "text" else ""

    # ------------------------------------------------------------------ helpers
    def _template(self) -> Template:
        return TEMPLATES.get(self.template) or Template(self.template)

    def _passages(self, frame: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
        if "docno" not in frame.columns or self.passages == 0:
            return {}
        ranked = frame[frame["docno"].notna()]
        if "rank" in ranked.columns:
            ranked = ranked.sort_values(["qid", "rank"], kind="mergesort")
        elif "score" in ranked.columns:
            ranked = ranked.sort_values(["qid", "score"], ascending=[True, False], kind="mergesort")
        top = ranked.groupby("qid", sort=False).head(self.passages)
        if "text" not in top.columns:
            if self.corpus is None:
                raise InputError("the reader needs passage text: add a 'text' column (add-text stage) or give it "
                                 "a corpus", field="text")
            docs = self.corpus.documents(top["docno"].astype(str).unique().tolist()).set_index("docno")
            ids = top["docno"].astype(str)
            top = top.assign(text=docs["text"].reindex(ids).to_numpy(), title=docs["title"].reindex(ids).to_numpy())
        out: dict[str, list[dict[str, str]]] = {}
        titles = top["title"].tolist() if "title" in top.columns else [""] * len(top)
        for qid, docno, text, title in zip(top["qid"].astype(str).tolist(), top["docno"].astype(str).tolist(),
                                           top["text"].tolist(), titles):
            out.setdefault(qid, []).append({"docno": docno, "text": "" if pd.isna(text) else str(text),
                                            "title": "" if pd.isna(title) else str(title)})
        return out

    # ------------------------------------------------------------------ the stage
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Questions -> prompts -> one LLM stream -> one answer row per question (see the module docstring)."""
        template = self._template()
        self._check_ranking(frame, template)
        questions = self._questions(frame)
        passages = self._passages(frame)
        contexts = [passages.get(qid, []) for qid in questions["qid"].tolist()]
        prompts, asked = self._prompts(questions, contexts, template)
        gens = self._answer(prompts, asked)
        out = self._answer_columns(questions, [_text(g) for g in gens], template)
        out = self._context_columns(out, contexts, prompts, asked)
        return self._call_columns(out, gens)

    def _check_ranking(self, frame: pd.DataFrame, template: Template) -> None:
        if template.needs_passages and "docno" not in frame.columns and self.passages > 0:
            raise InputError(f"template {self.template!r} answers from passages but the input has no 'docno' "
                             "column: put a retriever before the reader, or use template='closed_book'",
                             field="docno")

    @staticmethod
    def _questions(frame: pd.DataFrame) -> pd.DataFrame:
        """One row per question (first seen order) with its query columns, ``qid`` as text."""
        if "docno" in frame.columns:
            questions = questions_of(frame)
        else:
            kept = [c for c in frame.columns if c not in DOCUMENT_COLUMNS]
            questions = frame.drop_duplicates("qid")[kept].reset_index(drop=True)
        questions["qid"] = questions["qid"].astype(str)
        return questions

    def _prompts(self, questions: pd.DataFrame, contexts: list[list[dict[str, str]]],
                 template: Template) -> tuple[list[str], list[bool]]:
        """Each question's prompt (its template's closed-book counterpart when it has no passage) and whether
        it is asked (not with ``no_passage="abstain"`` and no passage)."""
        closed = TEMPLATES.get(template.closed_book, TEMPLATES["closed_book"])
        absent = [None] * len(questions)
        columns = [questions[c].tolist() if c in questions.columns else absent for c in ("history", "instruction")]
        prompts, asked = [], []
        for query, ps, history, instruction in zip(questions["query"].tolist(), contexts, *columns):
            use = template if ps or not template.needs_passages else closed
            prompts.append(render_prompt(use, str(query), ps, history, instruction))
            asked.append(bool(ps) or not template.needs_passages or self.no_passage == "closed-book")
        if not all(asked):
            log.info("%s: %d question(s) without passages left unanswered (no_passage='abstain')", self.name,
                     asked.count(False))
        return prompts, asked

    def _answer(self, prompts: list[str], asked: list[bool]) -> list[Generation | None]:
        """The generations of the asked prompts, as one stream (None for a question not asked)."""
        options: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed}
        if self.logprobs:
            options["logprobs"] = True
        if self.stop:
            options["stop"] = list(self.stop)
        todo = [i for i, a in enumerate(asked) if a]
        gens: list[Generation | None] = [None] * len(prompts)
        for i, g in zip(todo, self.generate([prompts[i] for i in todo], unit="answers", **options)):
            gens[i] = g
        return gens

    def _answer_columns(self, questions: pd.DataFrame, raw: list[str], template: Template) -> pd.DataFrame:
        out = questions.copy()
        out["answer"] = [template.clean(r) for r in raw] if self.post_process else [r.strip() for r in raw]
        out["raw_answer"] = raw
        return out

    @staticmethod
    def _context_columns(out: pd.DataFrame, contexts: list[list[dict[str, str]]], prompts: list[str],
                         asked: list[bool]) -> pd.DataFrame:
        """The passages in each prompt (the evidence for faithfulness measures) and the prompt itself."""
        for column, field in (("contexts", "text"), ("context_titles", "title"), ("context_docnos", "docno")):
            out[column] = [[p[field] for p in ps] for ps in contexts]
        out["passages"] = [len(ps) for ps in contexts]
        out["prompt"] = [p if a else "" for p, a in zip(prompts, asked)]
        out["retrieved"] = [bool(ps) for ps in contexts]
        return out

    def _call_columns(self, out: pd.DataFrame, gens: list[Generation | None]) -> pd.DataFrame:
        """What each call returned besides the text (log-probabilities, tokens, latency, cache) and its cost."""
        if self.logprobs:
            out["answer_logprobs"] = [_logprobs(g) for g in gens]
        out["prompt_tokens"] = [int(getattr(g, "prompt_tokens", 0) or 0) for g in gens]
        out["completion_tokens"] = [int(getattr(g, "completion_tokens", 0) or 0) for g in gens]
        out["latency_s"] = [float(getattr(g, "latency_s", 0.0) or 0.0) for g in gens]
        out["cached"] = [bool(getattr(g, "cached", False)) for g in gens]
        return add_cost(out, out["prompt_tokens"], out["completion_tokens"], out["latency_s"])


def _text(gen: Generation | None) -> str:
    return str(getattr(gen, "text", "") or "") if gen is not None else ""


def _logprobs(gen: Generation | None) -> list[float] | None:
    return list(gen.token_logprobs) if gen is not None and gen.token_logprobs is not None else None


@dataclasses.dataclass(repr=False)
class ShortAnswerer(Reader):
    """The reader with short-answer prompts (the adaptive-retrieval experiments): answers cut at the first
    line, token log-probabilities kept for confidence signals; closed-book unless ``passages > 0``."""

    template: str = "short"
    passages: int = 0
    max_tokens: int = 15
    logprobs: bool = True
    stop: list[str] | None = dataclasses.field(default_factory=lambda: ["\n"])
    gives: ClassVar[tuple[str, ...]] = (*Reader.gives, "answer_logprobs")
