"""The LLM interface every backend implements (:class:`LLM`) and what it returns (:class:`Generation`).

A prompt is a string (sent as one user message) or a chat (a list of ``{"role", "content"}`` dicts).
``generate`` returns :class:`Generation` objects; ``option_probs`` gives the probability of each option
as the next answer token, renormalised over the options (``["yes", "no"]``, digits, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

Prompt = "str | list[dict[str, str]]"


@dataclass
class Generation:
    """One LLM completion: text, token counts, latency, whether it came from the cache, log-probs."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool = False
    token_logprobs: list[float] | None = None   # log P of each generated token, when the backend gives them
    tokens: list[str] | None = None   # the text of each generated token (aligned with token_logprobs), when given

    @property
    def logprob(self) -> float | None:
        """Sum of the generated tokens' log-probabilities (the sequence log-probability)."""
        return None if self.token_logprobs is None else float(sum(self.token_logprobs))


@runtime_checkable
class LLM(Protocol):
    """What every backend provides: ``generate`` completions and ``option_probs`` over fixed answers."""

    name: str

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]: ...

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]: ...


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """A chat from a prompt: a string becomes one user message; a chat is checked."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, (list, tuple)) and all(isinstance(m, dict) and "role" in m and "content" in m
                                                 for m in prompt):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    raise TypeError(f"a prompt is a string or a list of {{'role', 'content'}} messages, got {type(prompt).__name__}")


def renormalise(probs: dict[str, float]) -> dict[str, float]:
    """Probabilities scaled to sum to 1 (uniform when they are all 0)."""
    total = sum(probs.values())
    if total <= 0:
        return {k: 1.0 / len(probs) for k in probs}
    return {k: v / total for k, v in probs.items()}


@runtime_checkable
class StreamingLLM(LLM, Protocol):
    """A backend that hands results back one by one as they are ready, ``(index, result)`` in any order, so
    the cache keeps every finished answer even when a later prompt fails, and progress can be shown."""

    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]: ...

    def iter_option_probs(self, prompts: Sequence[Any],
                          options: list[str]) -> Iterator[tuple[int, dict[str, float]]]: ...


class StreamingBackend:
    """Mixin: ``generate`` and ``option_probs`` of a backend that implements their ``iter_*`` forms."""

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        out: list[Any] = [None] * len(prompts)
        for i, gen in self.iter_generate(prompts, max_tokens=max_tokens, temperature=temperature,  # type: ignore[attr-defined]
                                         stop=stop, seed=seed, logprobs=logprobs):
            out[i] = gen
        return out

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        out: list[Any] = [None] * len(prompts)
        for i, probs in self.iter_option_probs(prompts, options):  # type: ignore[attr-defined]
            out[i] = probs
        return out
