"""FLARE (Jiang et al., EMNLP 2023): forward-looking active retrieval while answering (METHODS.md §10.1).

For every question: retrieve with the question (``initial_retrieval``); then, sentence by sentence, generate a
look-ahead of ``look_ahead_tokens`` tokens and cut it at its first sentence; when some token of that sentence has
probability ``<= theta`` (``theta=0``: every sentence), search again with the sentence whose tokens of probability
``<= beta`` are masked out (the implicit query, at most ``max_query_words`` words, kept from the end) - the new
passages replace the old - and regenerate the sentence; else keep it. Stop at ``max_tokens`` answer tokens, an empty
sentence, the stop string ("\\n\\n") or ``max_steps`` sentences (None: no cap, as in FLARE's code).

Token probabilities come from the backend's log-probabilities (llama.cpp and OpenAI-compatible servers give them,
with each token's text for the masking). Greedy regeneration with an unchanged prompt would repeat the look-ahead,
so it is skipped when nothing new was retrieved. The prompt is a reader template (default ``qa``) with the answer so
far appended after "Answer: " (FLARE used few-shot completion prompts; ours is zero-shot for chat models).
Questions advance in lockstep so each step's LLM calls and searches go out as one batch.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import questions_of
from rag.core.stage import Stage
from rag.llm.stage import LLMStage
from rag.readers.active import Passage, Trace, answers_frame, first_sentence, retrieve, sentence_tokens
from rag.readers.prompts import TEMPLATES, Template, render_prompt


def needs_retrieval(probs: list[float], theta: float) -> bool:
    """FLARE's trigger: some token probability ``<= theta``; ``theta == 0`` retrieves at every sentence."""
    return not theta or any(p <= theta for p in probs)


def masked_query(tokens: list[str], probs: list[float], beta: float) -> str:
    """The implicit query: tokens with probability ``> beta`` kept, the others replaced by a space, stripped."""
    return "".join(t if p > beta else " " for t, p in zip(tokens, probs)).strip()


def last_words(text: str, n: int) -> str:
    """At most the last ``n`` words of ``text`` (FLARE truncates the query from the left)."""
    return " ".join(text.split()[-n:]) if n > 0 else text


@dataclasses.dataclass(repr=False)
class FLARE(LLMStage):
    """Answer with forward-looking active retrieval; ``retriever`` is any ragif retriever or pipeline giving text."""

    retriever: Stage = None           # any ragif retriever or pipeline giving text, e.g. [{bm25: {k: 3}}, add-text]
    k: int = 2                         # passages per retrieval (FLARE's 2WikiMultihopQA config: 2)
    theta: float = 0.8                 # retrieve when some token probability <= theta (0: every sentence)
    beta: float = 0.4                  # mask tokens with probability <= beta out of the query
    look_ahead_tokens: int = 64        # tokens of each look-ahead generation (FLARE: 64)
    max_tokens: int = 128              # answer budget in tokens (FLARE CLI default 128; 2Wiki runs 256)
    max_steps: int | None = None       # at most this many sentences (None: bounded by max_tokens only)
    max_query_words: int = 64          # FLARE: 64 tokens, left-truncated
    initial_retrieval: bool = True     # FLARE "first": retrieve with the whole question before generating
    template: str = "qa"               # reader template the prompts are built with (rag.readers.prompts)
    stop: list[str] = dataclasses.field(default_factory=lambda: ["\n\n"])

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "raw_answer", "contexts", "context_docnos", "passages", "retrieved",
                                        "retrievals", "retrieval_queries", "flare_steps")
    answers_questions: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.retriever, Stage):
            raise InputError("flare needs a retriever (a stage or pipeline giving passage text)", field="retriever")
        for name in ("theta", "beta"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} is a probability in [0, 1], got {getattr(self, name)!r}", field=name)
        if self.k < 1 or self.look_ahead_tokens < 1 or self.max_tokens < 1:
            raise InputError("k, look_ahead_tokens and max_tokens must be positive", field="k")
        if self.template not in TEMPLATES and "{query}" not in self.template:
            raise InputError(f"unknown template {self.template!r}", field="template")

    def config(self) -> dict:
        cfg = super().config()
        cfg["retriever"] = self.retriever.fingerprint()
        return cfg


    def _prompt(self, query: str, passages: list[Passage], so_far: str) -> str:
        template = TEMPLATES.get(self.template) or Template(self.template)
        if not passages:
            template = TEMPLATES.get(template.closed_book, TEMPLATES["closed_book"])
        return render_prompt(template, query, [p.as_dict() for p in passages]) + so_far

    def _generate(self, prompts: list[str], max_tokens: int, step: int):
        return self.generate(prompts, desc=f"FLARE step {step}", max_tokens=max_tokens,
                             temperature=0.0, stop=list(self.stop), logprobs=True)

    @staticmethod
    def _step(gen, sentence: str, tokens: list[str] | None, probs: list[float], budget: int) -> tuple[str, int, bool]:
        """(sentence, tokens it took, whether the answer ends with it: the model stopped right after it)."""
        spent = len(probs) if tokens is not None else int(gen.completion_tokens or 0)
        finished = gen.text.strip() == sentence.strip() and int(gen.completion_tokens or 0) < budget
        return sentence, spent, finished

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = questions_of(frame) if "docno" in frame.columns else frame.drop_duplicates("qid").reset_index(drop=True)
        questions = questions.assign(qid=questions["qid"].astype(str))
        qids, asked = questions["qid"].tolist(), questions["query"].astype(str).tolist()
        traces = [Trace() for _ in qids]
        context: list[list[Passage]] = [[] for _ in qids]
        if self.initial_retrieval:
            found = retrieve(self.retriever, dict(zip(qids, asked)), self.k, questions)
            for i, q in enumerate(qids):
                context[i] = found.get(q, [])
                traces[i].queries.append(asked[i])
                traces[i].read(context[i])
        answer = [""] * len(qids)
        used = [0] * len(qids)
        active = list(range(len(qids)))
        step = 0
        while active:
            step += 1
            budget = {i: min(self.look_ahead_tokens, self.max_tokens - used[i]) for i in active}
            ahead = self._generate([self._prompt(asked[i], context[i], answer[i]) for i in active],
                                   max(budget.values()), step)
            lookahead: dict[int, tuple[str, int]] = {}
            searches: dict[int, str] = {}
            for i, gen in zip(active, ahead):
                traces[i].paid(gen)
                sentence = first_sentence(gen.text)
                tokens, probs = sentence_tokens(gen, sentence)
                lookahead[i] = self._step(gen, sentence, tokens, probs, budget[i])
                if sentence and needs_retrieval(probs, self.theta):
                    query = masked_query(tokens, probs, self.beta) if tokens is not None else sentence
                    if query:
                        searches[i] = last_words(query, self.max_query_words)
            found = retrieve(self.retriever, {qids[i]: q for i, q in searches.items()}, self.k, questions)
            regenerate = []
            for i, query in searches.items():
                traces[i].queries.append(query)
                new = found.get(qids[i], [])
                if [p.docno for p in new] != [p.docno for p in context[i]]:
                    context[i] = new
                    traces[i].read(new)
                    regenerate.append(i)
            if regenerate:
                again = self._generate([self._prompt(asked[i], context[i], answer[i]) for i in regenerate],
                                       max(budget[i] for i in regenerate), step)
                for i, gen in zip(regenerate, again):
                    traces[i].paid(gen)
                    sentence = first_sentence(gen.text)
                    tokens, probs = sentence_tokens(gen, sentence)
                    lookahead[i] = self._step(gen, sentence, tokens, probs, budget[i])
            still = []
            for i in active:
                sentence, spent, finished = lookahead[i]
                traces[i].steps += 1
                if sentence:
                    answer[i] = f"{answer[i]} {sentence}".strip() if answer[i] else sentence
                used[i] += max(spent, 1)
                done = (not sentence or finished or used[i] >= self.max_tokens
                        or (self.max_steps is not None and traces[i].steps >= self.max_steps))
                if not done:
                    still.append(i)
            active = still
        template = TEMPLATES.get(self.template) or Template(self.template)
        return answers_frame(questions, [template.clean(a) for a in answer], answer, traces,
                             {"flare_steps": [t.steps for t in traces]})
