"""Readers: answer each question from the passages that reach them (or closed-book) with an LLM."""
from __future__ import annotations

from rag.readers.reader import Reader

__all__ = ["Reader"]
