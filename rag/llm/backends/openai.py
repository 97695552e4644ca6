"""OpenAI-compatible HTTP backend (``vllm serve``, llama.cpp's server, hosted APIs) on aiohttp (an asyncio
client spends a tenth of httpx's CPU per request: ``experiments/bench_llm_throughput.py``).

All requests of a backend go through one stream (:mod:`rag.llm.backends.stream`): at most ``concurrency`` in
flight across every stage that uses it, each result handed back as it arrives, connections reused. By default
``concurrency`` is what the server says it serves at once (:mod:`rag.llm.backends.server`).

``timeout`` is a deadline for the whole request (connect, send, wait in the server's queue, read), enforced
by cancelling the request, so a server that trickles its reply cannot hold a run. A request that reaches it is
not sent again (the server may still be working on it): that is one clear error. Connection failures, HTTP
408/425/429/5xx (``Retry-After`` honoured within ``max_backoff``) and replies without a usable answer (no text;
token counts, finish reason, model or log-probabilities that are malformed: :mod:`rag.llm.backends.replies`)
are retried with exponential back-off, then raised as :class:`~rag.llm.errors.LLMServerError` or
:class:`~rag.llm.errors.EmptyReplyError`; such replies never reach the cache.

The API key is read from an environment variable whose *name* is configured (default ``OPENAI_API_KEY``);
it is never stored, logged or cached. Credentials written inside ``base_url`` are used but never shown:
the backend's ``name`` and every message carry the URL through :func:`rag.core.secrets.redact_url`.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import threading
import time
from typing import Any, Awaitable, Callable, Iterator, Sequence, TypeVar
from urllib.parse import urlsplit, urlunsplit

from rag.core.errors import ConfigError, MissingDependencyError
from rag.core.secrets import redact, redact_url
from rag.llm.backends.replies import BadReply, read_chat, retry_after_seconds, top_logprobs
from rag.llm.backends.server import ServerInfo, probe
from rag.llm.backends.stream import RequestRunner
from rag.llm.base import Generation, StreamingBackend, as_messages, renormalise
from rag.llm.errors import EmptyReplyError, LLMServerError

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
DEFAULT_CONCURRENCY = 16   # when the server does not say how many requests it serves at once
sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep  # the back-off's clock (tests replace it)


@dataclasses.dataclass(eq=False, repr=False)
class OpenAICompatibleLLM(StreamingBackend):
    """A model behind an OpenAI-compatible HTTP server (``/chat/completions``): ``vllm serve`` (the supported
    GPU route), llama.cpp's server, hosted APIs.

    A request that reaches ``timeout`` is not sent again (the server may still be working on it); other
    failures are retried (see the module docstring). ``concurrency`` above what the server serves at once
    only makes requests wait in its queue, and that wait counts toward ``timeout``.
    """

    model: str                                     # the model name sent in each request
    base_url: str = "http://127.0.0.1:8000/v1"     # the server's OpenAI API root
    api_key_env: str = "OPENAI_API_KEY"            # the environment variable holding the API key (never the key itself)
    timeout: float = 600.0                         # deadline in seconds for one whole request (connect, send, wait in the server's queue, read); reaching it is an error, never a re-send
    retries: int = 4                               # further attempts after a connection failure, HTTP 408/425/429/5xx or a reply without a usable answer
    backoff: float = 0.5                           # seconds before the first retry, doubled each time
    max_backoff: float = 30.0                      # longest wait between attempts (Retry-After included)
    concurrency: int | None = None                 # requests in flight at once; None: what the server says (llama.cpp /props or /slots, 1 for llama-cpp-python), else 16
    name: str | None = None                        # the name in cache keys and reports (default openai:MODEL@URL)
    top_logprobs: int = 20                         # candidate tokens asked for by option_probs

    def __post_init__(self) -> None:
        base_url = str(self.base_url).rstrip("/")
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigError(f"{redact_url(base_url)} is not a URL ({exc})", field="llm.base_url") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{redact_url(base_url)!r} is not an http(s) URL such as http://127.0.0.1:8000/v1",
                              field="llm.base_url")
        for field_name in ("timeout", "backoff", "max_backoff"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{field_name} must be a number of seconds >= 0, got {value!r}",
                                  field=f"llm.{field_name}")
        if self.timeout == 0:
            raise ConfigError("timeout must be more than 0 seconds", field="llm.timeout")
        for field_name, least in (("retries", 0), ("concurrency", 1), ("top_logprobs", 1)):
            value = getattr(self, field_name)
            if field_name == "concurrency" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{field_name} must be an integer >= {least}"
                                  f"{' (or null: ask the server)' if field_name == 'concurrency' else ''}, "
                                  f"got {value!r}", field=f"llm.{field_name}")
        self.base_url = base_url
        self.shown_url = redact_url(base_url)
        self.timeout = float(self.timeout)
        self.name = redact_url(self.name) if self.name else f"openai:{self.model}@{self.shown_url}"
        self._reset_state()

    def _reset_state(self, keep_identity: bool = False) -> None:
        self._client: Any = None
        self._runner: RequestRunner | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._warned = False
        if not keep_identity:
            self._info: ServerInfo | None = None
            self._identity: dict[str, Any] | None = None
            self.replies_seen: dict[tuple[str | None, str | None], int] = {}   # (model, fingerprint) -> replies

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM({self.model!r}, base_url={self.shown_url!r})"

    def __getstate__(self) -> dict[str, Any]:  # picklable (Ray workers): the loop and connections stay behind
        skip = ("_client", "_runner", "_lock", "_pid", "_warned")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_state(keep_identity=True)

    # ------------------------------------------------------------------------------------ the server
    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def server_info(self) -> ServerInfo:
        """What the server says about itself (asked once; see :mod:`rag.llm.backends.server`)."""
        with self._lock:
            if self._info is None:
                self._info = probe(self.base_url, self.model, self._headers(), self.timeout)
                if self._info.slots is not None:
                    log.info("LLM server %s serves %d request(s) at once (%s)", self.shown_url, self._info.slots,
                             self._info.source)
            return self._info

    def in_flight(self) -> int:
        """Requests in flight at once: ``concurrency`` when set, else what the server says, else 16."""
        if self.concurrency is not None:
            slots = self.server_info().slots
            if slots is not None and self.concurrency > slots and not self._warned:
                self._warned = True
                log.warning("LLM server %s serves %d request(s) at once (%s) but concurrency is %d: the others "
                            "wait in its queue, and that wait counts toward timeout (%g s)", self.shown_url, slots,
                            self.server_info().source, self.concurrency, self.timeout)
            return self.concurrency
        return self.server_info().slots or DEFAULT_CONCURRENCY

    def served(self) -> dict[str, Any]:
        """What the server reports serving (its model entry, llama.cpp's model path and chat template); empty
        when it reports nothing. Part of the cache identity (see :func:`rag.llm.identity.llm_fingerprint`)."""
        return dict(self.server_info().served)

    def identity(self) -> dict[str, Any] | None:
        """What identifies this backend's outputs beyond its name: what the server serves (None when it reports
        nothing; when it cannot be reached, what it reported last time: :mod:`rag.llm.identity`)."""
        if self._identity is None:
            from rag.llm.identity import served_with_memo

            info = self.server_info()
            self._identity = {"served": served_with_memo(self.name, info.answered, info.served)}
        return self._identity if self._identity["served"] else None

    def provenance(self) -> dict[str, Any]:
        """The identity, the concurrency used and the (model, fingerprint) pairs that replies named."""
        info = self._info or ServerInfo()
        return {"backend": "openai", "name": self.name, "model": self.model, "served": dict(info.served),
                "slots": info.slots, "slots_source": info.source,
                "concurrency": self._runner.limit if self._runner is not None else self.concurrency,
                "timeout_s": self.timeout, "retries": self.retries,
                "replies": [{"model": m, "system_fingerprint": f, "count": n}
                            for (m, f), n in sorted(self.replies_seen.items(), key=str)]}

    # ------------------------------------------------------------------------------------ transport
    def _runner_and_session(self) -> tuple[RequestRunner, Any]:
        if self._pid != os.getpid():   # a forked child: the parent's loop thread does not run here
            self._reset_state(keep_identity=True)
        limit = self.in_flight()
        with self._lock:
            if self._runner is None:
                try:
                    import aiohttp
                except ImportError:
                    raise MissingDependencyError("aiohttp", purpose="the OpenAI-compatible LLM backend") from None
                self._runner = RequestRunner(limit)

                async def make() -> Any:
                    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
                    return aiohttp.ClientSession(connector=connector, auto_decompress=True)

                self._client = self._runner.run(make())
                atexit.register(self.close)
            return self._runner, self._client

    def close(self) -> None:
        """Close the connections and stop the request loop (a later call opens new ones)."""
        with self._lock:
            runner, session, self._runner, self._client = self._runner, self._client, None, None
        if runner is not None:
            if session is not None:
                with contextlib.suppress(Exception):
                    runner.run(session.close())
            runner.close()

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return min(self.backoff * (2 ** attempt) * (1 + random.random() * 0.25), self.max_backoff)

    async def _post(self, session: Any, path: str, body: dict[str, Any], read: Callable[[Any], T]) -> T:
        """POST ``body`` and read the reply with ``read`` (which raises :class:`BadReply` on a reply without a
        usable answer); what may pass is retried, the rest raised at once."""
        import aiohttp

        url, shown = _join(self.base_url, path), _join(self.shown_url, path)
        headers = {"Content-Type": "application/json", **self._headers()}
        payload = json.dumps(body).encode("utf-8")
        deadline = aiohttp.ClientTimeout(total=self.timeout)
        problem, no_answer = "", False
        for attempt in range(self.retries + 1):
            retry_after, no_answer = None, False
            try:
                async with session.post(url, data=payload, headers=headers, timeout=deadline,
                                        allow_redirects=False) as response:
                    reply = Reply(response.status, response.reason or "", response.headers.get("Retry-After"),
                                  await response.read())
            except asyncio.TimeoutError:
                raise LLMServerError(f"LLM server {shown} gave no complete answer within timeout={self.timeout:g} s "
                                     "(not sent again: the server may still be working on it); raise timeout, or "
                                     "lower concurrency to what the server serves at once") from None
            except (aiohttp.ClientError, OSError, ValueError) as exc:   # connection failures: the server has nothing
                problem = f"{type(exc).__name__}: {_one_line(exc)}"
            else:
                status = reply.status_code
                if 200 <= status < 300:
                    try:
                        return read(reply)
                    except BadReply as exc:
                        problem, no_answer = str(exc), True
                else:
                    problem = f"HTTP {status}: {_one_line(reply.text[:300]) or reply.reason_phrase}"
                    if status not in RETRY_STATUS:
                        raise LLMServerError(f"LLM server {shown} answered {redact(problem)}"
                                             + (" (a redirect: set base_url to its target)"
                                                if 300 <= status < 400 else "")) from None
                    retry_after = retry_after_seconds(reply.retry_after)
            if attempt < self.retries:
                delay = self._delay(attempt, retry_after)
                log.warning("LLM server %s: %s; retry %d/%d in %.1f s", shown, redact(problem), attempt + 1,
                            self.retries, delay)
                await sleep(delay)
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        if no_answer:
            raise EmptyReplyError(f"LLM server {shown} gave no usable reply after {attempts}: {redact(problem)}")
        raise LLMServerError(f"LLM server {shown} unreachable or failing after {attempts} ({redact(problem)}); "
                             f"is it running? check base_url")

    def _each(self, fn: Callable[[Any, Any], Awaitable[T]], items: Sequence[Any]) -> Iterator[tuple[int, T]]:
        if not items:
            return iter(())
        runner, session = self._runner_and_session()
        return runner.stream(lambda item: fn(session, item), items)

    # ------------------------------------------------------------------------------------ interface
    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]:
        """``(index, Generation)`` as each request completes, ``concurrency`` in flight."""
        base: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature,
                                "seed": seed}
        if stop:
            base["stop"] = list(stop)
        if logprobs:
            base["logprobs"] = True

        def read(response: Any) -> Any:
            return read_chat(response, logprobs=logprobs)

        async def one(client: Any, prompt: Any) -> Generation:
            start = time.perf_counter()
            reply = await self._post(client, "/chat/completions", {**base, "messages": as_messages(prompt)}, read)
            key = (reply.model, reply.fingerprint)
            self.replies_seen[key] = self.replies_seen.get(key, 0) + 1
            return Generation(text=reply.text, prompt_tokens=reply.prompt_tokens,
                              completion_tokens=reply.completion_tokens, latency_s=time.perf_counter() - start,
                              token_logprobs=reply.token_logprobs, tokens=reply.tokens)

        return self._each(one, list(prompts))

    def iter_option_probs(self, prompts: Sequence[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        """From the top log-probabilities of the first generated token (options missing from the top list get
        a floor of 1e-9 before renormalising). A reply without log-probabilities is an
        :class:`~rag.llm.errors.EmptyReplyError`, never a uniform guess."""
        async def one(client: Any, prompt: Any) -> dict[str, float]:
            body = {"model": self.model, "messages": as_messages(prompt), "max_tokens": 1, "temperature": 0.0,
                    "logprobs": True, "top_logprobs": self.top_logprobs}
            top = await self._post(client, "/chat/completions", body, top_logprobs)
            probs = {o: 1e-9 for o in options}
            for token, logprob in top:
                token = token.strip().lower()
                for option in options:
                    if token and option.lower().startswith(token) and (token == option.lower() or len(token) > 1):
                        probs[option] += math.exp(logprob)
            return renormalise(probs)

        return self._each(one, list(prompts))


class Reply:
    """A read reply: status, reason, ``Retry-After`` and the body (``text``, ``json()``), as the readers of
    :mod:`rag.llm.backends.replies` take it."""

    __slots__ = ("status_code", "reason_phrase", "retry_after", "content")

    def __init__(self, status: int, reason: str, retry_after: str | None, content: bytes):
        self.status_code, self.reason_phrase, self.retry_after, self.content = status, reason, retry_after, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _join(base_url: str, path: str) -> str:
    """``base_url`` with ``path`` appended to its path (a query string stays at the end)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, parts.fragment))


def _one_line(value: Any) -> str:
    text = " ".join(str(value).split())
    return text[:300]
