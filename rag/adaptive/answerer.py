"""A minimal prompt-based short-answer reader (closed-book or with retrieved passages).

Used by the adaptive-retrieval experiments because they need the answer's token log-probabilities
(the R-Tuning answer confidence). Prompts are ours (zero-shot, for instruction-tuned models) and
configurable; Mallen et al.'s 15-shot prompts are not reproduced. The answer is the generation cut at
the first newline, stripped of surrounding spaces and a final full stop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.llm.stage import LLMStage

CLOSED_BOOK_PROMPT = ("Answer the question with a short phrase (a name, a place or a few words), "
                      "without explanation.\nQuestion: {query}\nAnswer:")
WITH_CONTEXT_PROMPT = ("Use the passage to answer the question with a short phrase (a name, a place or a few "
                       "words), without explanation.\nPassage: {context}\nQuestion: {query}\nAnswer:")


def clean_answer(text: str) -> str:
    """First line of a generation, stripped of spaces and one trailing full stop."""
    first = (text or "").strip().split("\n", 1)[0].strip()
    return first[:-1].rstrip() if first.endswith(".") else first


@dataclass(repr=False)
class ShortAnswerer(LLMStage):
    """Answer each question with the LLM; with ``k > 0`` the input is a results table and the top ``k``
    passages (``text``, ordered by ``rank``) of each question go into the prompt.

    Output: one row per question with the query columns, ``answer``, ``contexts`` (passages used),
    ``answer_logprobs`` (log-probabilities of the generated tokens, when the backend gives them),
    ``prompt_tokens``, ``completion_tokens`` and ``latency_s``.
    """

    llm: Any = "qwen-0.5b"
    k: int = 0
    max_tokens: int = 15
    closed_book_prompt: str = CLOSED_BOOK_PROMPT
    context_prompt: str = WITH_CONTEXT_PROMPT
    max_context_chars: int = 2000
    batch_size: int = 8

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "contexts", "answer_logprobs", "prompt_tokens",
                                        "completion_tokens", "latency_s")
    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ValueError(f"k must be >= 0, got {self.k}")

    def _questions(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
        if self.k == 0:
            questions = frame.drop_duplicates("qid").reset_index(drop=True)
            return questions, [[] for _ in range(len(questions))]
        if "text" not in frame.columns:
            raise InputError(f"{self.name}(k={self.k}) needs passage texts: put an add-text stage before it",
                             field="text")
        ranked = frame.sort_values(["qid", "rank"] if "rank" in frame else ["qid", "score"],
                                   ascending=[True, "rank" in frame], kind="mergesort")
        texts = ranked.groupby("qid", sort=False)["text"].apply(lambda s: [str(t) for t in s.head(self.k)])
        result_cols = {"docno", "score", "rank", "text", "title"}
        questions = frame.drop_duplicates("qid")[[c for c in frame.columns if c not in result_cols]]
        questions = questions.reset_index(drop=True)
        return questions, [texts.get(q, []) for q in questions["qid"]]

    def prompt(self, query: str, contexts: list[str]) -> str:
        if not contexts:
            return self.closed_book_prompt.format(query=query)
        context = "\n".join(contexts)[: self.max_context_chars]
        return self.context_prompt.format(query=query, context=context)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions, contexts = self._questions(frame)
        prompts = [self.prompt(q, c) for q, c in zip(questions["query"], contexts)]
        generations = []
        for start in range(0, len(prompts), self.batch_size):
            generations.extend(self.client.generate(prompts[start:start + self.batch_size],
                                                    max_tokens=self.max_tokens, temperature=0.0,
                                                    stop=["\n"], logprobs=True))
        out = questions.copy()
        out["answer"] = [clean_answer(g.text) for g in generations]
        out["contexts"] = contexts
        out["answer_logprobs"] = [list(g.token_logprobs) if g.token_logprobs is not None else None
                                  for g in generations]
        out["prompt_tokens"] = [int(g.prompt_tokens) for g in generations]
        out["completion_tokens"] = [int(g.completion_tokens) for g in generations]
        out["latency_s"] = [float(g.latency_s) for g in generations]
        return out
