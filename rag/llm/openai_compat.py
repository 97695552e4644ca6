"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, hosted APIs): chat completions with retries,
back-off, time-outs and a concurrency limit. The API key is read from an environment variable whose
*name* is configured (default ``OPENAI_API_KEY``); it is never stored, logged or cached."""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from rag.core.errors import RagifError
from rag.llm.base import Generation, as_messages, renormalise

log = logging.getLogger(__name__)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMServerError(RagifError):
    """The server could not be reached or kept failing after the retries."""


class OpenAICompatibleLLM:
    """A model behind an OpenAI-compatible HTTP server (vLLM, llama.cpp server, hosted APIs)."""
    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, retries: int = 4, backoff: float = 0.5, concurrency: int = 4,
                 name: str | None = None):
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout, self.retries, self.backoff, self.concurrency = timeout, retries, backoff, max(1, concurrency)
        self.name = name or f"openai:{model}@{self.base_url}"

    # ------------------------------------------------------------------------------------ transport
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode("utf-8")
        url = f"{self.base_url}{path}"
        last = ""
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                last = f"HTTP {exc.code}: {detail}"
                if exc.code not in RETRY_STATUS:
                    raise LLMServerError(f"{url} answered {last}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except json.JSONDecodeError:
                last = "the response is not JSON"
            if attempt < self.retries:
                delay = self.backoff * (2 ** attempt) * (1 + random.random() * 0.25)
                log.warning("LLM server %s failed (%s); retry %d/%d in %.1f s", url, last, attempt + 1,
                            self.retries, delay)
                time.sleep(delay)
        raise LLMServerError(f"LLM server {url} unreachable or failing after {self.retries + 1} attempts ({last}); "
                             f"is it running? check base_url")

    def _map(self, fn, items: Sequence[Any]) -> list[Any]:
        if self.concurrency == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(fn, items))

    # ------------------------------------------------------------------------------------ interface
    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        def one(prompt: Any) -> Generation:
            body: dict[str, Any] = {"model": self.model, "messages": as_messages(prompt), "max_tokens": max_tokens,
                                    "temperature": temperature, "seed": seed}
            if stop:
                body["stop"] = list(stop)
            if logprobs:
                body["logprobs"] = True
            start = time.perf_counter()
            reply = self._post("/chat/completions", body)
            latency = time.perf_counter() - start
            choice = (reply.get("choices") or [{}])[0]
            text = ((choice.get("message") or {}).get("content")) or ""
            usage = reply.get("usage") or {}
            lps = None
            content = ((choice.get("logprobs") or {}).get("content")) if logprobs else None
            if content:
                lps = [float(t.get("logprob", 0.0)) for t in content]
            return Generation(text=text, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                              completion_tokens=int(usage.get("completion_tokens", 0)), latency_s=latency,
                              token_logprobs=lps)

        return self._map(one, list(prompts))

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        """From the top log-probabilities of the first generated token (options missing from the top list
        get a floor of 1e-9 before renormalising)."""
        def one(prompt: Any) -> dict[str, float]:
            body = {"model": self.model, "messages": as_messages(prompt), "max_tokens": 1, "temperature": 0.0,
                    "logprobs": True, "top_logprobs": 20}
            reply = self._post("/chat/completions", body)
            choice = (reply.get("choices") or [{}])[0]
            content = (choice.get("logprobs") or {}).get("content") or []
            top = content[0].get("top_logprobs", []) if content else []
            probs = {o: 1e-9 for o in options}
            for entry in top:
                token = str(entry.get("token", "")).strip().lower()
                for option in options:
                    if token and option.lower().startswith(token) and (token == option.lower() or len(token) > 1):
                        probs[option] += math.exp(float(entry.get("logprob", -math.inf)))
            return renormalise(probs)

        return self._map(one, list(prompts))
