"""The LLM interface every backend implements, and the disk cache + usage accounting around it.

A prompt is a string (sent as one user message) or a chat (a list of ``{"role", "content"}`` dicts).
``generate`` returns :class:`Generation` objects; ``option_probs`` gives the probability of each option
as the next answer token, renormalised over the options (``["yes", "no"]``, digits, ...).
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from rag.core.cache import Cache
from rag.core.hashing import hash_config

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
    total = sum(probs.values())
    if total <= 0:
        return {k: 1.0 / len(probs) for k in probs}
    return {k: v / total for k, v in probs.items()}


# ------------------------------------------------------------------------------------------ usage
@dataclass
class Usage:
    """Running totals of LLM calls, cache hits, tokens and latency (overall and per model)."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    per_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, model: str, prompt_tokens: int, completion_tokens: int, latency: float, cached: bool) -> None:
        self.calls += 1
        self.cached_calls += int(cached)
        entry = self.per_model.setdefault(model, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                   "latency_s": 0.0})
        entry["calls"] += 1
        if not cached:  # cost is what was actually spent in this process
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.latency_s += latency
            entry["prompt_tokens"] += prompt_tokens
            entry["completion_tokens"] += completion_tokens
            entry["latency_s"] += latency

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_USAGE = Usage()
_USAGE_LOCK = threading.Lock()


def usage(reset: bool = False) -> dict[str, Any]:
    """Aggregate LLM cost of this process: calls, cached calls, tokens and seconds actually spent."""
    global _USAGE
    with _USAGE_LOCK:
        out = _USAGE.as_dict()
        if reset:
            _USAGE = Usage()
    return out


def _record(model: str, prompt_tokens: int, completion_tokens: int, latency: float, cached: bool) -> None:
    with _USAGE_LOCK:
        _USAGE.add(model, prompt_tokens, completion_tokens, latency, cached)


# ------------------------------------------------------------------------------------------ caching
class CachedLLM:
    """Wraps a backend: every call goes through the disk cache keyed by (model, prompt, parameters),
    and is counted in :func:`usage`. The cache is the active one, else the default cache folder."""

    def __init__(self, backend: Any, cache: Cache | None = None):
        self.backend = backend
        self.name = backend.name
        self._cache = cache

    @property
    def cache(self) -> Cache:
        return self._cache or Cache.active() or Cache()

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop or []), "seed": seed,
                  "logprobs": logprobs}
        cache = self.cache
        keys = [hash_config("llm-generate", self.name, as_messages(p), params) for p in prompts]
        out: list[Generation | None] = []
        todo: list[int] = []
        for i, key in enumerate(keys):
            record = cache.get_json(key)
            if record is None:
                out.append(None)
                todo.append(i)
            else:
                gen = Generation(**{**record, "cached": True})
                _record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, True)
                out.append(gen)
        if todo:
            fresh = self.backend.generate([prompts[i] for i in todo], **params)
            for i, gen in zip(todo, fresh):
                cache.put_json(keys[i], {k: v for k, v in asdict(gen).items() if k != "cached"})
                _record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, False)
                out[i] = gen
        return out  # type: ignore[return-value]

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        cache = self.cache
        keys = [hash_config("llm-options", self.name, as_messages(p), list(options)) for p in prompts]
        out: list[dict[str, float] | None] = [cache.get_json(k) for k in keys]
        todo = [i for i, v in enumerate(out) if v is None]
        for i, v in enumerate(out):
            if v is not None:
                _record(self.name, 0, 0, 0.0, True)
        if todo:
            start = time.perf_counter()
            fresh = self.backend.option_probs([prompts[i] for i in todo], list(options))
            spent = (time.perf_counter() - start) / len(todo)
            for i, probs in zip(todo, fresh):
                cache.put_json(keys[i], probs)
                _record(self.name, 0, 1, spent, False)
                out[i] = probs
        return out  # type: ignore[return-value]

    def count_tokens(self, prompt: Any) -> int | None:
        """Prompt tokens as the backend counts them (None when it cannot say without a call)."""
        counter = getattr(self.backend, "count_tokens", None)
        return int(counter(prompt)) if counter is not None else None

    def __repr__(self) -> str:
        return f"CachedLLM({self.name!r})"
