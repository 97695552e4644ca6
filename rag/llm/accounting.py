"""Usage accounting of LLM calls in this process: calls, cache hits, tokens and seconds actually spent."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


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


def record(model: str, prompt_tokens: int, completion_tokens: int, latency: float, cached: bool) -> None:
    """Count one call (a cached one costs nothing but is counted as a call)."""
    with _USAGE_LOCK:
        _USAGE.add(model, prompt_tokens, completion_tokens, latency, cached)
