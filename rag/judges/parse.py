"""Parsers of judge outputs. They never raise: a reply that cannot be read gives ``None`` (unparsable),
which callers count and report next to the scores."""
from __future__ import annotations

import re

_PASSAGE = re.compile(r"passage[\s_-]*(\d+)", re.I)
_BRACKET = re.compile(r"\[\s*(\d+)\s*\]")
_INT = re.compile(r"(?<![\w.])(\d{1,2})(?![\w.])")


def pointwise(text: str) -> bool | None:
    """Paper rule: relevant when the lower-cased reply contains ": yes", "is yes" or " yes". A reply with
    neither a yes nor a no is unparsable (``None``) instead of silently "no"."""
    low = f" {str(text or '').lower()}"
    if ": yes" in low or "is yes" in low or " yes" in low:
        return True
    if re.search(r"\bno\b", low):
        return False
    return None


def pairwise(text: str) -> int | None:
    """0 when the first passage wins, 1 when the second does. Paper rule: the text after "choice" up to the
    first "."; "passage-0" there -> first. ``None`` when no passage is named there (or anywhere)."""
    low = str(text or "").lower()
    at = low.find("choice")
    span = low[at + len("choice"):] if at >= 0 else low
    span = span.split(".")[0] if at >= 0 else span
    named = [int(n) for n in _PASSAGE.findall(span)]
    if not named and at >= 0:
        named = [int(n) for n in _PASSAGE.findall(low[at:])]
    if not named:
        return None
    return 0 if named[0] == 0 else 1 if named[0] == 1 else None


def _ids(segment: str, n: int) -> list[int]:
    for pattern in (_PASSAGE, _BRACKET, _INT):
        found = [int(x) for x in pattern.findall(segment)]
        found = [i for i in found if 0 <= i < n]
        if found:
            return list(dict.fromkeys(found))
    return []


def listwise_set(text: str, n: int) -> list[int] | None:
    """Passage numbers after the last "My selection" (``[passage-0, passage-2]``, ``[0, 2]``, ``0 and 2``);
    ``[]`` for an explicit empty selection; ``None`` when there is no selection at all."""
    raw = str(text or "")
    low = raw.lower()
    at = low.rfind("selection")
    if at < 0:
        return None
    segment = raw[at + len("selection"):]
    ids = _ids(segment, n)
    if ids:
        return ids
    return [] if re.search(r"\[\s*\]|none", segment.lower()) else None


def listwise_rank(text: str, n: int) -> list[int] | None:
    """Passage order after the last "My rank" (``[2]>[0]>[1]``); passages missing from the reply are appended
    in their input order; ``None`` when no ranking can be read."""
    raw = str(text or "")
    at = raw.lower().rfind("rank:")
    segment = raw[at:] if at >= 0 else raw
    ids = _ids(segment, n)
    if not ids:
        return None
    return ids + [i for i in range(n) if i not in ids]


def digit(text: str) -> int | None:
    match = re.search(r"\d", str(text or ""))
    return int(match.group()) if match else None
