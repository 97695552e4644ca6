"""Parsers of judge outputs. They never raise: a reply that cannot be read gives ``None`` (unparsable),
which callers count and report next to the scores. A ranking of passages is read as the listwise reranker
reads it (:func:`rag.llm.parse.listwise_rank`)."""
from __future__ import annotations

import re

from rag.llm.parse import PASSAGE_NAME, listwise_rank, passage_ids

__all__ = ["pointwise", "pairwise", "listwise_set", "listwise_rank", "digit"]


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
    named = [int(n) for n in PASSAGE_NAME.findall(span)]
    if not named and at >= 0:
        named = [int(n) for n in PASSAGE_NAME.findall(low[at:])]
    if not named:
        return None
    return 0 if named[0] == 0 else 1 if named[0] == 1 else None


def listwise_set(text: str, n: int) -> list[int] | None:
    """Passage numbers after the last "My selection" (``[passage-0, passage-2]``, ``[0, 2]``, ``0 and 2``);
    ``[]`` for an explicit empty selection; ``None`` when there is no selection at all."""
    raw = str(text or "")
    low = raw.lower()
    at = low.rfind("selection")
    if at < 0:
        return None
    segment = raw[at + len("selection"):]
    ids = passage_ids(segment, n)
    if ids:
        return ids
    return [] if re.search(r"\[\s*\]|none", segment.lower()) else None


def digit(text: str) -> int | None:
    match = re.search(r"\d", str(text or ""))
    return int(match.group()) if match else None
