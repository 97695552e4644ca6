"""File names made from system and measure names (the same rule for every writer and reader)."""
from __future__ import annotations


def file_stem(name: str) -> str:
    """A file-name form of ``name``: letters, digits, ``-``, ``_`` and ``.`` kept, anything else ``_``.

    >>> file_stem("RRF(BM25,MiniLM)")
    'RRF_BM25_MiniLM_'
    """
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "system"
