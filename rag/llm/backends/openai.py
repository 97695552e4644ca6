"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, hosted APIs) on httpx: one pooled client
(connections are reused), retries with bounded exponential back-off that honour ``Retry-After``, time-outs
and a concurrency limit.

The API key is read from an environment variable whose *name* is configured (default ``OPENAI_API_KEY``);
it is never stored, logged or cached. Credentials written inside ``base_url`` are used but never shown:
the backend's ``name`` and every message carry the URL through :func:`rag.secrets.redact_url`.

A reply without an answer (HTTP 200 with an empty ``choices`` list, ``content: null``, an error object, a
body that is not the expected JSON) is retried like a failed request, then raised as
:class:`~rag.llm.errors.EmptyReplyError`; it never reaches the cache.
"""
from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from rag.core.errors import ConfigError, MissingDependencyError
from rag.core.secrets import redact, redact_url
from rag.llm.base import Generation, StreamingBackend, as_messages, renormalise
from rag.llm.errors import EmptyReplyError, LLMServerError
from rag.llm.backends.replies import BadReply, chat_text, retry_after_seconds, top_logprobs

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
sleep = time.sleep  # the back-off's clock (tests replace it)


class OpenAICompatibleLLM(StreamingBackend):
    """A model behind an OpenAI-compatible HTTP server (``/chat/completions``).

    ``retries``: further attempts after a failed one; ``backoff``: first delay in seconds, doubled each time,
    never above ``max_backoff`` (a ``Retry-After`` from the server is honoured within the same bound);
    ``concurrency``: requests in flight at once (use the server's number of slots).
    """

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, retries: int = 4, backoff: float = 0.5, max_backoff: float = 30.0,
                 concurrency: int = 4, name: str | None = None, top_logprobs: int = 20):
        base_url = str(base_url).rstrip("/")
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(f"{redact_url(base_url)} is not a URL ({exc})", field="llm.base_url") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{redact_url(base_url)!r} is not an http(s) URL such as http://127.0.0.1:8000/v1",
                              field="llm.base_url")
        for field_name, value in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{field_name} must be a number of seconds >= 0, got {value!r}",
                                  field=f"llm.{field_name}")
        for field_name, value, least in (("retries", retries, 0), ("concurrency", concurrency, 1),
                                         ("top_logprobs", top_logprobs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{field_name} must be an integer >= {least}, got {value!r}",
                                  field=f"llm.{field_name}")
        self.model = model
        self.base_url = base_url
        self.shown_url = redact_url(base_url)
        self.api_key_env = api_key_env
        self.timeout, self.retries, self.backoff, self.max_backoff = float(timeout), retries, backoff, max_backoff
        self.concurrency = concurrency
        self.top_logprobs = top_logprobs
        self.name = redact_url(name) if name else f"openai:{model}@{self.shown_url}"
        self._client: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM({self.model!r}, base_url={self.shown_url!r})"

    def __getstate__(self) -> dict[str, Any]:  # picklable (Ray workers): the connection pool stays behind
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_client_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _client=None, _client_lock=threading.Lock())

    # ------------------------------------------------------------------------------------ transport
    def client(self) -> Any:
        """The pooled httpx client (made on first use; as many connections as ``concurrency``)."""
        with self._client_lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError:
                    raise MissingDependencyError("httpx", purpose="the OpenAI-compatible LLM backend") from None
                limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
                self._client = httpx.Client(timeout=self.timeout, limits=limits, follow_redirects=False)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return min(self.backoff * (2 ** attempt) * (1 + random.random() * 0.25), self.max_backoff)

    def _post(self, path: str, body: dict[str, Any], read: Callable[[Any], T]) -> T:
        """POST ``body`` and read the reply with ``read`` (which raises :class:`BadReply` on a reply without an
        answer); failures that may pass are retried, the others raised at once."""
        import httpx

        headers = {}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url, shown = _join(self.base_url, path), _join(self.shown_url, path)
        problem, no_answer = "", False
        for attempt in range(self.retries + 1):
            retry_after, no_answer = None, False
            try:
                response = self.client().post(url, json=body, headers=headers)
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout:g} s"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                problem = f"{type(exc).__name__}: {_one_line(exc)}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    try:
                        return read(response)
                    except BadReply as exc:
                        problem, no_answer = str(exc), True
                else:
                    problem = f"HTTP {status}: {_one_line(response.text[:300]) or response.reason_phrase}"
                    if status not in RETRY_STATUS:
                        raise LLMServerError(f"LLM server {shown} answered {redact(problem)}"
                                             + (" (a redirect: set base_url to its target)"
                                                if 300 <= status < 400 else "")) from None
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < self.retries:
                delay = self._delay(attempt, retry_after)
                log.warning("LLM server %s: %s; retry %d/%d in %.1f s", shown, redact(problem), attempt + 1,
                            self.retries, delay)
                sleep(delay)
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        if no_answer:
            raise EmptyReplyError(f"LLM server {shown} gave no usable reply after {attempts}: {redact(problem)}")
        raise LLMServerError(f"LLM server {shown} unreachable or failing after {attempts} ({redact(problem)}); "
                             f"is it running? check base_url")

    def _each(self, fn: Callable[[Any], T], items: Sequence[Any]) -> Iterator[tuple[int, T]]:
        """``(index, fn(item))`` as the requests complete, ``concurrency`` at a time. On a failure, no new request
        starts; those in flight finish and are yielded, then the failure is raised."""
        if self.concurrency == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        error: BaseException | None = None
        with ThreadPoolExecutor(self.concurrency) as pool:
            pending: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        i = pending.pop(future)
                        if future.cancelled():
                            continue
                        if future.exception() is not None:
                            if error is None:
                                error = future.exception()
                                for other in pending:
                                    other.cancel()
                            continue
                        yield i, future.result()
            finally:  # the caller stopped early (or failed): no new request starts
                for other in pending:
                    other.cancel()
        if error is not None:
            raise error

    # ------------------------------------------------------------------------------------ interface
    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]:
        """``(index, Generation)`` as each request completes (see :meth:`generate`)."""
        def one(prompt: Any) -> Generation:
            body: dict[str, Any] = {"model": self.model, "messages": as_messages(prompt), "max_tokens": max_tokens,
                                    "temperature": temperature, "seed": seed}
            if stop:
                body["stop"] = list(stop)
            if logprobs:
                body["logprobs"] = True
            start = time.perf_counter()
            text, reply = self._post("/chat/completions", body, chat_text)
            latency = time.perf_counter() - start
            usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
            lps = pieces = None
            if logprobs:
                content = ((reply["choices"][0].get("logprobs") or {}).get("content")) or []
                lps = [float(t.get("logprob", 0.0)) for t in content if isinstance(t, dict)] or None
                pieces = [str(t.get("token", "")) for t in content if isinstance(t, dict)] or None
            return Generation(text=text, prompt_tokens=_int(usage.get("prompt_tokens")),
                              completion_tokens=_int(usage.get("completion_tokens")), latency_s=latency,
                              token_logprobs=lps, tokens=pieces)

        return self._each(one, list(prompts))

    def iter_option_probs(self, prompts: Sequence[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        """From the top log-probabilities of the first generated token (options missing from the top list get
        a floor of 1e-9 before renormalising). A reply without log-probabilities is an
        :class:`~rag.llm.errors.EmptyReplyError`, never a uniform guess."""
        def one(prompt: Any) -> dict[str, float]:
            body = {"model": self.model, "messages": as_messages(prompt), "max_tokens": 1, "temperature": 0.0,
                    "logprobs": True, "top_logprobs": self.top_logprobs}
            top = self._post("/chat/completions", body, top_logprobs)
            probs = {o: 1e-9 for o in options}
            for token, logprob in top:
                token = token.strip().lower()
                for option in options:
                    if token and option.lower().startswith(token) and (token == option.lower() or len(token) > 1):
                        probs[option] += math.exp(logprob)
            return renormalise(probs)

        return self._each(one, list(prompts))


def _join(base_url: str, path: str) -> str:
    """``base_url`` with ``path`` appended to its path (a query string stays at the end)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, parts.fragment))


def _one_line(value: Any) -> str:
    text = " ".join(str(value).split())
    return text[:300]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
