"""Reading passage numbers out of an LLM reply, for every stage that asks an LLM to order or pick passages
(the listwise reranker, the listwise judges). Parsers never raise: a reply that cannot be read gives ``None``,
which callers count as unparsable."""
from __future__ import annotations

import re

PASSAGE_NAME = re.compile(r"passage[\s_-]*(\d+)", re.I)
_BRACKET = re.compile(r"\[\s*(\d+)\s*\]")
_INT = re.compile(r"(?<![\w.])(\d{1,2})(?![\w.])")


def passage_ids(segment: str, n: int) -> list[int]:
    """The passage numbers (0 to ``n - 1``) named in ``segment``, first mention first: ``passage-2``, else
    ``[2]``, else a bare small number."""
    for pattern in (PASSAGE_NAME, _BRACKET, _INT):
        found = [int(x) for x in pattern.findall(segment)]
        found = [i for i in found if 0 <= i < n]
        if found:
            return list(dict.fromkeys(found))
    return []


def listwise_rank(text: str, n: int) -> list[int] | None:
    """Passage order after the last "rank:" (``[2]>[0]>[1]``); passages missing from the reply are appended
    in their input order; ``None`` when no ranking can be read."""
    raw = str(text or "")
    at = raw.lower().rfind("rank:")
    segment = raw[at:] if at >= 0 else raw
    ids = passage_ids(segment, n)
    if not ids:
        return None
    return ids + [i for i in range(n) if i not in ids]
