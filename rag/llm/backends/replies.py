"""Reading an OpenAI-compatible reply: every field a backend uses (text, token counts, finish reason, model,
fingerprint, log-probabilities) is checked here, where it is read, and a reply with a missing or malformed one
is a :class:`BadReply` saying in a few words what was wrong (the request is then retried like one without
text, and nothing of it is cached); and the ``Retry-After`` header in seconds."""
from __future__ import annotations

import email.utils
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

FINISHED = ("stop", "length", "eos", "stop_sequence", "end_turn", "max_tokens")
MAX_TOKENS = 2 ** 31        # a token count above this is not a count
LOGPROB_SLACK = 1e-6        # a log-probability up to this far above 0 is rounding (taken as 0); more is malformed


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


@dataclass(frozen=True)
class ChatReply:
    """The checked fields of a chat completion."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    model: str | None                    # what the server says answered
    fingerprint: str | None              # ``system_fingerprint``, where the server gives one
    token_logprobs: list[float] | None   # log P of each generated token (when asked for)
    tokens: list[str] | None = None      # the text of each generated token, aligned with ``token_logprobs``


def chat_text(response: Any) -> tuple[str, dict[str, Any]]:
    """``(text, body)`` of a chat completion. ``content`` must be a string; an empty one only counts as an
    answer when the server says the generation finished (``finish_reason`` stop/length)."""
    body = reply_body(response)
    return _content(first_choice(body)), body


def read_chat(response: Any, logprobs: bool = False) -> ChatReply:
    """Every field of a chat completion that the backend uses, checked (:class:`BadReply` otherwise): the
    text, token counts (absent: 0; present: integers in [0, 2**31)), ``finish_reason``, ``model`` and
    ``system_fingerprint`` (strings or absent) and, with ``logprobs``, one finite log-probability <= 0 per
    generated token."""
    body = reply_body(response)
    choice = first_choice(body)
    text = _content(choice)
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise BadReply(f"'usage' is a {type(usage).__name__}, not an object")
    usage = usage or {}
    lps = pieces = None
    if logprobs:
        entries = _logprob_entries(choice)
        lps = [checked_logprob(e.get("logprob"), f"logprobs.content[{i}].logprob", allow_minus_inf=False)
               for i, e in enumerate(entries)]
        pieces = [_optional_text(e.get("token"), f"logprobs.content[{i}].token") or "" for i, e in enumerate(entries)]
    return ChatReply(text=text, prompt_tokens=token_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
                     completion_tokens=token_count(usage.get("completion_tokens"), "usage.completion_tokens"),
                     finish_reason=_optional_text(choice.get("finish_reason"), "finish_reason"),
                     model=_optional_text(body.get("model"), "model"),
                     fingerprint=_optional_text(body.get("system_fingerprint"), "system_fingerprint"),
                     token_logprobs=lps, tokens=pieces)


def _content(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadReply("choices[0] has no 'message' object" if message is None else
                       f"choices[0].message is a {type(message).__name__}, not an object")
    content = message.get("content")
    finish = _optional_text(choice.get("finish_reason"), "finish_reason")
    if content is None:
        refusal = message.get("refusal")
        raise BadReply(f"the message content is null (refusal: {str(refusal)[:100]!r})" if refusal else
                       f"the message content is null (finish_reason {finish!r})")
    if not isinstance(content, str):
        raise BadReply(f"the message content is a {type(content).__name__}, not text")
    if not content and finish not in FINISHED:
        raise BadReply(f"an empty message content with finish_reason {finish!r}")
    return content


def token_count(value: Any, field: str) -> int:
    """A token count: absent (None) is 0; otherwise an integer (an integral float is accepted) in
    [0, 2**31); anything else (Infinity, NaN, negative, 3.5, a string, a boolean) is a :class:`BadReply`."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadReply(f"{field} is {_shown(value)}, not a count of tokens")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise BadReply(f"{field} is {_shown(value)}, not a whole number of tokens")
    if not 0 <= value < MAX_TOKENS:
        raise BadReply(f"{field} is {_shown(value)}, outside 0..{MAX_TOKENS - 1}")
    return int(value)


def checked_logprob(value: Any, field: str, allow_minus_inf: bool = True) -> float:
    """A log-probability: a number <= 0 (up to :data:`LOGPROB_SLACK` of rounding, taken as 0), not NaN;
    -Infinity only where ``allow_minus_inf`` (a candidate the model rules out, not a generated token)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadReply(f"{field} is {_shown(value)}, not a log-probability")
    value = float(value)
    if math.isnan(value) or value > LOGPROB_SLACK or (value == -math.inf and not allow_minus_inf):
        raise BadReply(f"{field} is {_shown(value)}, not a log-probability (a number <= 0)")
    return min(value, 0.0)


def _logprob_entries(choice: dict[str, Any]) -> list[dict[str, Any]]:
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        raise BadReply("no log-probabilities in the reply" if logprobs is None else
                       f"choices[0].logprobs is a {type(logprobs).__name__}, not an object")
    content = logprobs.get("content")
    if not isinstance(content, list):
        raise BadReply("no log-probabilities in the reply (logprobs.content is "
                       f"{'absent' if content is None else 'a ' + type(content).__name__})")
    for i, entry in enumerate(content):
        if not isinstance(entry, dict):
            raise BadReply(f"logprobs.content[{i}] is a {type(entry).__name__}, not an object")
    return content


def _optional_text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadReply(f"{field} is {_shown(value)}, not text")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def top_logprobs(response: Any) -> list[tuple[str, float]]:
    """``(token, logprob)`` pairs of the first generated token's ``top_logprobs`` (never empty; each pair
    checked: the token a string, the log-probability a number <= 0 or -Infinity)."""
    choice = first_choice(reply_body(response))
    try:
        entries = _logprob_entries(choice)
    except BadReply as exc:
        raise BadReply(f"{exc} (does the server return them? llama.cpp's server needs --logits_all true)") from None
    if not entries:
        raise BadReply("no log-probabilities in the reply (an empty logprobs.content; does the server return "
                       "them? llama.cpp's server needs --logits_all true)")
    top = entries[0].get("top_logprobs")
    if not isinstance(top, list) or not top:
        raise BadReply("no top_logprobs for the first token in the reply" if not top else
                       f"logprobs.content[0].top_logprobs is a {type(top).__name__}, not a list")
    pairs = []
    for i, entry in enumerate(top):
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            raise BadReply(f"top_logprobs[{i}] has no 'token' string")
        pairs.append((entry["token"], checked_logprob(entry.get("logprob"), f"top_logprobs[{i}].logprob")))
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
