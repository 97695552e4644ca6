"""Confidence signals about a closed-book answer (METHODS.md §6), each a stage adding one column.

* :class:`AnswerConfidence` (``answer_confidence``): geometric mean of the generated tokens'
  probabilities (R-Tuning's answer confidence; greedy decoding, so these are the max probabilities).
* :class:`SureProbability` (``p_sure``): P(sure) / (P(sure) + P(unsure)) after R-Tuning's question.
  R-Tuning reads the next token after "... I am" from a fine-tuned model; for an untuned chat model
  the default prompt asks for the word "sure" or "unsure" and reads those two options instead
  (an adaptation; the template and options are configurable).
* :class:`SelfJudge` (``self_judge``): Self-J's expected score, sum of d * P(d) over the digits 0-9
  after the reference-free judge prompt (quoted from the Self-J code).
* :class:`RTuningConfidence` (``rtuning_confidence``): 0.5 * answer confidence + 0.5 * P(sure).

Unusable LLM output (no log-probabilities, empty option probabilities) gives NaN, never an error.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rag.core.stage import Stage
from rag.llm.stage import DEFAULT_LLM, LLMSpec, LLMStage

log = logging.getLogger(__name__)
RTUNING_QUESTION = "Are you sure you accurately answered the question based on your internal knowledge?"
SURE_PROMPT = ("Question: {query}\nAnswer: {answer}\n" + RTUNING_QUESTION +
               " Reply with one word: sure or unsure.")
SELF_J_PROMPT = ("Please act as a precise judge and evaluate the quality of the answer to question. Rate the "
                 "answer from 0 to 9, where a higher value means a better answer. Please respond with an integer "
                 "between 0 and 9. \n\n[Question]\n{query}\n\n[Answer]\n{answer}")


def geometric_mean_probability(logprobs: Any, first: int | None = None) -> float:
    """exp(mean log-probability) of the first ``first`` tokens; NaN when there are none."""
    if logprobs is None:
        return math.nan
    try:
        values = np.asarray(list(logprobs), float)
    except (TypeError, ValueError):
        return math.nan
    if first is not None:
        values = values[:first]
    values = values[np.isfinite(values)]
    return float(np.exp(values.mean())) if values.size else math.nan


# each confidence signal, and the column with what computing it cost in tokens (None: free, from the answer)
SIGNAL_COST_COLUMNS = {"answer_confidence": None, "p_sure": "tokens_p_sure", "self_judge": "tokens_self_judge",
                       "rtuning_confidence": "tokens_p_sure"}

@dataclass(repr=False)
class AnswerConfidence(Stage):
    """``answer_confidence`` from ``answer_logprobs`` (written by :class:`~rag.readers.reader.ShortAnswerer`);
    ``first_tokens`` limits it to the answer's first tokens (R-Tuning generates at most 5)."""

    first_tokens: int | None = None   # use only the first n answer tokens (None: all)
    needs: ClassVar[tuple[str, ...]] = ("qid", "answer_logprobs")
    gives: ClassVar[tuple[str, ...]] = ("answer_confidence",)
    cacheable: ClassVar[bool] = False

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(answer_confidence=[geometric_mean_probability(lp, self.first_tokens)
                                               for lp in frame["answer_logprobs"]])


def _count_tokens(client: Any, prompt: str) -> float:
    counter = getattr(client, "count_tokens", None)
    if counter is None:
        return math.nan
    try:
        count = counter(prompt)
        return math.nan if count is None else float(count)
    except Exception:  # a tokenizer failure must not stop the run; the cost is then unknown
        return math.nan


@dataclass(repr=False)
class _OptionSignal(LLMStage):
    """Ask the LLM one question per row and turn the option probabilities into one number."""

    llm: LLMSpec = DEFAULT_LLM
    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "answer")
    column: ClassVar[str] = ""
    template: ClassVar[str] = ""

    def options(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def reduce(self, probs: dict[str, float]) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def prompt_text(self) -> str:
        return getattr(self, "prompt", self.template)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        prompts = [self.prompt_text().format(query=q, answer=a) for q, a in zip(frame["query"], frame["answer"])]
        values = [self._safe_reduce(p) for p in self.option_probs(prompts, list(self.options()), unit="questions")]
        unusable = sum(math.isnan(v) for v in values)
        if unusable:
            log.warning("%s: %d of %d option probabilities were unusable (%s is NaN for them)", self.name, unusable,
                        len(values), self.column)
        return frame.assign(**{self.column: values,
                               f"tokens_{self.column}": [_count_tokens(self.client, p) + 1 for p in prompts]})

    def _safe_reduce(self, probs: Any) -> float:
        if not isinstance(probs, dict) or not probs:
            return math.nan
        try:
            clean = {str(k): float(v) for k, v in probs.items()}
        except (TypeError, ValueError):
            return math.nan
        if not all(math.isfinite(v) and v >= 0 for v in clean.values()) or sum(clean.values()) <= 0:
            return math.nan
        total = sum(clean.values())
        return self.reduce({k: v / total for k, v in clean.items()})


@dataclass(repr=False)
class SureProbability(_OptionSignal):
    """``p_sure``: probability of "sure" against "unsure" after R-Tuning's question."""

    prompt: str = SURE_PROMPT
    sure: str = "sure"   # the option counted as sure
    unsure: str = "unsure"   # the option counted as unsure
    gives: ClassVar[tuple[str, ...]] = ("p_sure", "tokens_p_sure")
    column: ClassVar[str] = "p_sure"

    def options(self) -> list[str]:
        return [self.sure, self.unsure]

    def reduce(self, probs: dict[str, float]) -> float:
        return probs.get(self.sure, 0.0)


@dataclass(repr=False)
class SelfJudge(_OptionSignal):
    """``self_judge``: expected 0-9 score of the answer under Self-J's reference-free judge prompt."""

    prompt: str = SELF_J_PROMPT
    gives: ClassVar[tuple[str, ...]] = ("self_judge", "tokens_self_judge")
    column: ClassVar[str] = "self_judge"

    def options(self) -> list[str]:
        return list("0123456789")

    def reduce(self, probs: dict[str, float]) -> float:
        return float(sum(int(d) * probs.get(d, 0.0) for d in "0123456789"))


@dataclass(repr=False)
class RTuningConfidence(Stage):
    """``rtuning_confidence`` = ``answer_weight`` * answer confidence + (1 - ``answer_weight``) * P(sure)."""

    answer_weight: float = 0.5   # weight of the answer confidence against P(sure)
    needs: ClassVar[tuple[str, ...]] = ("qid", "answer_confidence", "p_sure")
    gives: ClassVar[tuple[str, ...]] = ("rtuning_confidence",)
    cacheable: ClassVar[bool] = False

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        a = pd.to_numeric(frame["answer_confidence"], errors="coerce")
        s = pd.to_numeric(frame["p_sure"], errors="coerce")
        return frame.assign(rtuning_confidence=self.answer_weight * a + (1 - self.answer_weight) * s)
