"""The disk cache around any backend: every call is keyed by (model identity, chat, parameters), counted in
:func:`rag.llm.usage`, and stored as soon as it is answered (by writer threads, off the stream's path:
:mod:`rag.llm.writer`), so a run that stops keeps what it paid for.

Only answers are stored: a reply without text, or with token counts or log-probabilities that are not counts
and log-probabilities, raises :class:`~rag.llm.errors.EmptyReplyError` instead; an entry read back that fails
the same checks is a miss. The prompts of one call go to the backend as one stream (a repeated prompt once),
with one progress bar or periodic line (:mod:`rag.core.progress`) named by the caller.
"""
from __future__ import annotations

import contextlib
import json
import math
from typing import Any, Iterator, Sequence

from rag.core.cache import LLM_REPLIES, Cache
from rag.core.hashing import canonical, hash_bytes
from rag.core.progress import bar
from rag.llm.accounting import record
from rag.llm.base import LLM, Generation, as_messages
from rag.llm.errors import EmptyReplyError
from rag.llm.identity import backend_key
from rag.llm.writer import CacheWriter

MIN_PROGRESS = 32   # calls with fewer prompts to send than this show no progress
MAX_TOKEN_COUNT = 2 ** 31


class CachedLLM:
    """Wraps a backend (the :class:`~rag.llm.base.LLM` protocol): every call goes through the disk cache keyed
    by (model identity, prompt, parameters) and is counted in :func:`usage`. The cache is the one given, else
    the active one, else the default cache folder."""

    def __init__(self, backend: LLM, cache: Cache | None = None):
        self.backend = backend
        self.name = backend.name
        self._cache = cache
        self._key: Any = None

    @property
    def cache(self) -> Cache:
        return self._cache or Cache.active() or Cache()

    def key_identity(self) -> Any:
        """What stands for the model in cache keys (:func:`rag.llm.identity.backend_key`, asked once)."""
        if self._key is None:
            self._key = backend_key(self.backend)
        return self._key

    def provenance(self) -> dict[str, Any]:
        """What the backend records about itself (its identity and the settings that do not change outputs)."""
        describe = getattr(self.backend, "provenance", None)
        return describe() if callable(describe) else {"name": self.name}

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False, desc: str | None = None,
                 unit: str = "prompts") -> list[Generation]:
        """Completions of ``prompts`` (cached ones from the cache, the others as one stream); ``desc`` and
        ``unit`` name the progress shown while they are computed."""
        params = {"max_tokens": max_tokens, "temperature": temperature, "stop": list(stop or []), "seed": seed,
                  "logprobs": logprobs}
        cache = self.cache
        keys = _keys("llm-generate", self.key_identity(), prompts, params)
        out: list[Generation | None] = [None] * len(keys)
        for i, entry in enumerate(_get_many(cache, keys)):
            gen = _cached_generation(entry)
            if gen is not None:
                record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, True)
                out[i] = gen
        todo = _unique_missing(keys, out)
        if todo:
            firsts = [indices[0] for indices in todo.values()]
            fresh = self._fresh_generations([prompts[i] for i in firsts], params)
            with CacheWriter(cache, kind=LLM_REPLIES if isinstance(cache, Cache) else None) as writer, self._progress(len(keys), len(keys) - len(firsts), desc, unit) as update:
                try:
                    for j, gen in fresh:
                        i = firsts[j]
                        _check_generation(gen, self.name, i)
                        writer.put(keys[i], {"text": gen.text, "prompt_tokens": gen.prompt_tokens,
                                             "completion_tokens": gen.completion_tokens, "latency_s": gen.latency_s,
                                             "token_logprobs": gen.token_logprobs})
                        record(self.name, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, False)
                        for k in todo[keys[i]]:
                            out[k] = gen
                        update(1)
                finally:
                    _close(fresh)   # a failure here: nothing more is sent
        return out  # type: ignore[return-value]

    def option_probs(self, prompts: Sequence[Any], options: list[str], *, desc: str | None = None,
                     unit: str = "prompts") -> list[dict[str, float]]:
        """Probabilities of ``options`` as the next answer for each prompt (cached, else one stream)."""
        cache = self.cache
        keys = _keys("llm-options", self.key_identity(), prompts, list(options))
        out: list[dict[str, float] | None] = [v if _probs_ok(v, options) else None for v in _get_many(cache, keys)]
        for v in out:
            if v is not None:
                record(self.name, 0, 0, 0.0, True)
        todo = _unique_missing(keys, out)
        if todo:
            firsts = [indices[0] for indices in todo.values()]
            fresh = self._fresh_option_probs([prompts[i] for i in firsts], list(options))
            with CacheWriter(cache, kind=LLM_REPLIES if isinstance(cache, Cache) else None) as writer, self._progress(len(keys), len(keys) - len(firsts), desc, unit) as update:
                try:
                    for j, probs in fresh:
                        i = firsts[j]
                        if not _probs_ok(probs, options):
                            raise EmptyReplyError(f"LLM {self.name} gave no usable option probabilities for "
                                                  f"prompt {i}: {probs!r:.120}")
                        writer.put(keys[i], probs)
                        record(self.name, 0, 1, 0.0, False)
                        for k in todo[keys[i]]:
                            out[k] = probs
                        update(1)
                finally:
                    _close(fresh)
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

    def _progress(self, total: int, done: int, desc: str | None, unit: str) -> Any:
        """Progress over ``total`` calls (``done`` of them from the cache), advanced by the ``update`` it
        yields: a bar on a terminal, else a line now and then (:mod:`rag.core.progress`); nothing for fewer
        than :data:`MIN_PROGRESS` calls to make when the caller gave no ``desc``."""
        if desc is None and total - done < MIN_PROGRESS:
            return contextlib.nullcontext(lambda n=1: None)
        return bar(total=total, desc=desc or f"LLM {self.name}", unit=unit, initial=done)

    def count_tokens(self, prompt: Any) -> int | None:
        """Prompt tokens as the backend counts them (None when it cannot say without a call)."""
        counter = getattr(self.backend, "count_tokens", None)
        return int(counter(prompt)) if counter is not None else None

    def __repr__(self) -> str:
        return f"CachedLLM({self.name!r})"


def _keys(kind: str, ident: Any, prompts: Sequence[Any], params: Any) -> list[str]:
    """``hash_config(kind, ident, as_messages(prompt), params)`` of every prompt, with the parts shared by all
    prompts made canonical once (a chat of strings is its own canonical form)."""
    head = [canonical(kind), canonical(ident)]
    tail = canonical(params)
    dumps = json.dumps
    return [hash_bytes(dumps([*head, as_messages(p), tail], sort_keys=True, separators=(",", ":")).encode("utf-8"))
            for p in prompts]


def _get_many(cache: Cache, keys: list[str]) -> list[Any]:
    """Entries of ``keys`` (None where absent): one ``get_many`` where the cache has it."""
    many = getattr(cache, "get_many", None)
    if callable(many):
        found = many(keys, kind=LLM_REPLIES) if isinstance(cache, Cache) else many(keys)
        return [found.get(k) for k in keys] if isinstance(found, dict) else list(found)
    return [cache.get_json(k) for k in keys]


def _unique_missing(keys: list[str], out: list[Any]) -> dict[str, list[int]]:
    """Key -> the positions that still need it (a prompt asked twice in one call is sent once)."""
    todo: dict[str, list[int]] = {}
    for i, (key, value) in enumerate(zip(keys, out)):
        if value is None:
            todo.setdefault(key, []).append(i)
    return todo


def _close(items: Any) -> None:
    close = getattr(items, "close", None)
    if callable(close):
        close()


def _numbered(results: Sequence[Any], expected: int, name: str) -> Iterator[tuple[int, Any]]:
    if len(results) != expected:
        raise EmptyReplyError(f"LLM {name} gave {len(results)} results for {expected} prompts")
    return iter(enumerate(results))


def _count_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_TOKEN_COUNT


def _logprobs_ok(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= 0 for v in values)


def _problem(gen: Any) -> str | None:
    """What makes ``gen`` no answer (None: it is one)."""
    if not isinstance(gen, Generation) or not isinstance(gen.text, str):
        return "no text"
    for name in ("prompt_tokens", "completion_tokens"):
        if not _count_ok(getattr(gen, name)):
            return f"{name} {getattr(gen, name)!r} is not a count of tokens"
    if not (isinstance(gen.latency_s, (int, float)) and math.isfinite(gen.latency_s) and gen.latency_s >= 0):
        return f"latency {gen.latency_s!r} is not a number of seconds"
    if gen.token_logprobs is not None and not _logprobs_ok(gen.token_logprobs):
        return "token log-probabilities that are not finite numbers <= 0"
    return None


def _check_generation(gen: Any, name: str, index: int) -> None:
    problem = _problem(gen)
    if problem is not None:
        raise EmptyReplyError(f"LLM {name} gave {problem} for prompt {index}"
                              + (f" (got {type(getattr(gen, 'text', gen)).__name__})" if problem == "no text" else ""))


def _cached_generation(entry: Any) -> Generation | None:
    """A cached entry as a Generation, or None when it is absent or is not a valid answer."""
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
        return None
    try:
        gen = Generation(**{**entry, "cached": True})
    except TypeError:
        return None
    return gen if _problem(gen) is None else None


def _probs_ok(probs: Any, options: Sequence[str]) -> bool:
    """Option probabilities cover exactly the options with finite values >= 0 (never cache less)."""
    return isinstance(probs, dict) and set(probs) == set(options) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in probs.values())
