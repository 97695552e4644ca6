"""How a query's instruction joins its text, for every kind of retriever and reranker.

Modes: ``"ignore"`` (query only), ``"append"`` (``f"{query} {instruction}"``, the MTEB/FollowIR default for
models without instruction support), or a template containing ``{query}`` and ``{instruction}``
(e.g. ``"Instruct: {instruction}\\nQuery: {query}"``).
"""
from __future__ import annotations

import pandas as pd

from rag.core.errors import ConfigError

MODES = ("ignore", "append")


def check_mode(mode: str) -> str:
    if isinstance(mode, str) and (mode in MODES or "{query}" in mode):
        return mode
    raise ConfigError(f"instruction mode must be 'ignore', 'append' or a template with {{query}} "
                      f"(and {{instruction}}), got {mode!r}", field="instruction")


def join_instruction(query: str, instruction: str | None, mode: str = "append") -> str:
    """The text a model sees for one query."""
    instruction = (instruction or "").strip()
    if mode == "ignore" or (not instruction and "{query}" not in mode):
        return query
    if mode == "append":
        return f"{query} {instruction}".strip()
    return mode.format(query=query, instruction=instruction)


def query_texts(frame: pd.DataFrame, mode: str = "append") -> list[str]:
    """The model-side query text of every row of ``frame`` (``query`` + optional ``instruction``)."""
    check_mode(mode)
    if "instruction" not in frame.columns:
        instructions = [None] * len(frame)
    else:
        instructions = [None if pd.isna(i) else str(i) for i in frame["instruction"]]
    return [join_instruction(str(q), i, mode) for q, i in zip(frame["query"], instructions)]
