"""The disk cache around any backend: every call is keyed by (model name, chat, parameters), counted in
:func:`rag.llm.usage`, and written as soon as it is answered, so a run that stops keeps what it paid for.
Only answers are written: a reply without text raises :class:`~rag.llm.errors.EmptyReplyError` instead."""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict
from typing import Any, Iterator, Sequence

from rag.core.cache import Cache
from rag.core.hashing import hash_config
from rag.core.progress import enabled as bars_enabled
from rag.core.progress import progress
from rag.llm.accounting import record
from rag.llm.base import LLM, Generation, as_messages
from rag.llm.errors import EmptyReplyError

MIN_PROGRESS = 32   # calls with fewer prompts than this show no progress (stages batching by 16 show their own)
LINE_EVERY_S = 30.0  # off a terminal: one progress line this often


class CachedLLM:
    """Wraps a backend (the :class:`~rag.llm.base.LLM` protocol): every call goes through the disk cache keyed
    by (model, prompt, parameters) and is counted in :func:`usage`. The cache is the one given, else the
    active one, else the default cache folder. Many prompts show progress (:func:`rag.progress.progress`)."""

    def __init__(self, backend: LLM, cache: Cache | None = None):
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
        out: list[Generation | None] = [None] * len(keys)
        todo: list[int] = []
        for i, key in enumerate(keys):
            entry = cache.get_json(key)
            if entry is None or not isinstance(entry.get("text"), str):
                todo.append(i)
                continue
            gen = Generation(**{**entry, "cached": True})
            record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, True)
            out[i] = gen
        if todo:
            fresh = self._fresh_generations([prompts[i] for i in todo], params)
            for j, gen in self._progress(fresh, len(todo)):
                i = todo[j]
                if not isinstance(gen, Generation) or not isinstance(gen.text, str):
                    raise EmptyReplyError(f"LLM {self.name} gave no text for prompt {i} "
                                          f"(got {type(getattr(gen, 'text', gen)).__name__})")
                cache.put_json(keys[i], {k: v for k, v in asdict(gen).items() if k != "cached"})
                record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, False)
                out[i] = gen
        return out  # type: ignore[return-value]

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        cache = self.cache
        keys = [hash_config("llm-options", self.name, as_messages(p), list(options)) for p in prompts]
        out: list[dict[str, float] | None] = [cache.get_json(k) for k in keys]
        todo = [i for i, v in enumerate(out) if v is None]
        for v in out:
            if v is not None:
                record(self.name, 0, 0, 0.0, True)
        if todo:
            fresh = self._fresh_option_probs([prompts[i] for i in todo], list(options))
            last = time.perf_counter()
            for j, probs in self._progress(fresh, len(todo)):
                i = todo[j]
                _check_probs(probs, options, self.name, i)
                now = time.perf_counter()
                cache.put_json(keys[i], probs)
                record(self.name, 0, 1, now - last, False)
                last = now
                out[i] = probs
        return out  # type: ignore[return-value]

    def _fresh_generations(self, prompts: list[Any], params: dict[str, Any]) -> Iterator[tuple[int, Generation]]:
        stream = getattr(self.backend, "iter_generate", None)
        if stream is not None:
            return stream(prompts, **params)
        return _numbered(self.backend.generate(prompts, **params), len(prompts), self.name)

    def _fresh_option_probs(self, prompts: list[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        stream = getattr(self.backend, "iter_option_probs", None)
        if stream is not None:
            return stream(prompts, options)
        return _numbered(self.backend.option_probs(prompts, options), len(prompts), self.name)

    def _progress(self, items: Iterator[Any], total: int) -> Iterator[Any]:
        """A bar on a terminal (:func:`rag.progress.progress`), else a line every :data:`LINE_EVERY_S` seconds."""
        if total < MIN_PROGRESS:
            return items
        if bars_enabled():
            return progress(items, total=total, desc=f"LLM {self.name}", unit="prompt")
        return _periodic_lines(items, total, f"LLM {self.name}")

    def count_tokens(self, prompt: Any) -> int | None:
        """Prompt tokens as the backend counts them (None when it cannot say without a call)."""
        counter = getattr(self.backend, "count_tokens", None)
        return int(counter(prompt)) if counter is not None else None

    def __repr__(self) -> str:
        return f"CachedLLM({self.name!r})"


def _periodic_lines(items: Iterator[Any], total: int, desc: str) -> Iterator[Any]:
    start = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= LINE_EVERY_S and done < total:
            rate = done / (now - start)
            print(f"{desc}: {done}/{total} prompts, {rate:.2f}/s, about {(total - done) / rate / 60:.1f} min left",
                  file=sys.stderr, flush=True)
            last = now


def _numbered(results: Sequence[Any], expected: int, name: str) -> Iterator[tuple[int, Any]]:
    if len(results) != expected:
        raise EmptyReplyError(f"LLM {name} gave {len(results)} results for {expected} prompts")
    return iter(enumerate(results))


def _check_probs(probs: Any, options: list[str], name: str, index: int) -> None:
    """Option probabilities must cover exactly the options with finite values >= 0 (never cache less)."""
    ok = isinstance(probs, dict) and set(probs) == set(options) and all(
        isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in probs.values())
    if not ok:
        raise EmptyReplyError(f"LLM {name} gave no usable option probabilities for prompt {index}: {probs!r:.120}")
