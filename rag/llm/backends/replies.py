"""Reading an OpenAI-compatible reply: the answer text or the first token's log-probabilities, or a
:class:`BadReply` saying in a few words what is missing; and the ``Retry-After`` header in seconds."""
from __future__ import annotations

import email.utils
import json
import math
from datetime import datetime, timezone
from typing import Any

FINISHED = ("stop", "length", "eos", "stop_sequence", "end_turn", "max_tokens")


class BadReply(Exception):
    """A 2xx reply that carries no answer (the message says what was wrong); the request may be retried."""


def reply_body(response: Any) -> dict[str, Any]:
    """The JSON object of a reply, or :class:`BadReply` (not JSON, not an object, an error object)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        start = " ".join(response.text[:60].split())
        raise BadReply(f"the body is not JSON (starts with {start!r})" if start else "the body is empty") from None
    if not isinstance(body, dict):
        raise BadReply(f"the body is a JSON {type(body).__name__}, not an object")
    error = body.get("error")
    if error or body.get("object") == "error":
        message = error.get("message", error) if isinstance(error, dict) else (error or body.get("message"))
        raise BadReply(f"an error object in the reply: {' '.join(str(message).split())[:200]}")
    return body


def first_choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise BadReply("no 'choices' list in the reply" if choices is None else
                       f"'choices' is a {type(choices).__name__}, not a list")
    if not choices:
        raise BadReply("an empty 'choices' list")
    if not isinstance(choices[0], dict):
        raise BadReply(f"choices[0] is a {type(choices[0]).__name__}, not an object")
    return choices[0]


def chat_text(response: Any) -> tuple[str, dict[str, Any]]:
    """``(text, body)`` of a chat completion. ``content`` must be a string; an empty one only counts as an
    answer when the server says the generation finished (``finish_reason`` stop/length)."""
    body = reply_body(response)
    choice = first_choice(body)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadReply("choices[0] has no 'message' object" if message is None else
                       f"choices[0].message is a {type(message).__name__}, not an object")
    content = message.get("content")
    finish = choice.get("finish_reason")
    if content is None:
        refusal = message.get("refusal")
        raise BadReply(f"the message content is null (refusal: {str(refusal)[:100]!r})" if refusal else
                       f"the message content is null (finish_reason {finish!r})")
    if not isinstance(content, str):
        raise BadReply(f"the message content is a {type(content).__name__}, not text")
    if not content and finish not in FINISHED:
        raise BadReply(f"an empty message content with finish_reason {finish!r}")
    return content, body


def top_logprobs(response: Any) -> list[tuple[str, float]]:
    """``(token, logprob)`` pairs of the first generated token's ``top_logprobs`` (never empty)."""
    choice = first_choice(reply_body(response))
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        raise BadReply("no log-probabilities in the reply (does the server return them? llama.cpp's server "
                       "needs --logits_all true)")
    pairs = []
    for entry in content[0].get("top_logprobs") or []:
        try:
            token, logprob = str(entry["token"]), float(entry["logprob"])
        except (KeyError, TypeError, ValueError):
            continue
        if not math.isnan(logprob):
            pairs.append((token, logprob))
    if not pairs:
        raise BadReply("no usable top_logprobs for the first token in the reply")
    return pairs


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (``"120"`` or an HTTP date), at least 0; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
