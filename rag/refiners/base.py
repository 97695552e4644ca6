"""The base of every refiner: take each question's top ``depth`` passages, rewrite their text, count tokens.

Token counts use one simple, model-free rule (:func:`count_tokens`: runs of word characters and single other
non-space characters), so figures compare across refiners and readers; the reader's own prompt tokens are in the
cost columns as usual.
"""
from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import add_ranks
from rag.core.stage import Stage
from rerankers.base import ranked_input

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Word and punctuation tokens of ``text`` (the refiners' unit of context size)."""
    return len(_TOKEN.findall(text or ""))


@dataclasses.dataclass(repr=False)
class Refiner(Stage):
    """Refine each question's top ``depth`` passages (the rest is dropped: it would not reach a reader)."""

    depth: int = dataclasses.field(default=5, kw_only=True)

    needs: ClassVar[tuple[str, ...]] = ("qid", "query", "docno", "text")
    gives: ClassVar[tuple[str, ...]] = ("text", "refiner_tokens_in", "refiner_tokens_out")

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise InputError(f"depth must be a positive integer, got {self.depth!r}", field="depth")

    def refine(self, query: str, passages: list[str]) -> list[str]:  # pragma: no cover - abstract
        """The refined text of each passage ("" drops it)."""
        raise NotImplementedError

    def refine_all(self, queries: list[str], passages: list[list[str]]) -> list[list[str]]:
        """Every question's passages refined (a subclass may batch across questions)."""
        return [self.refine(q, ps) for q, ps in zip(queries, passages)]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        ranked = ranked_input(frame)
        top = ranked[ranked["rank"] < self.depth].sort_values(["qid", "rank"], kind="mergesort")
        top = top.assign(text=top["text"].fillna("").astype(str)).reset_index(drop=True)
        groups = list(top.groupby("qid", sort=False))
        refined = self.refine_all([str(g["query"].iloc[0]) for _, g in groups], [g["text"].tolist() for _, g in groups])
        parts = []
        for (qid, group), texts in zip(groups, refined):
            if len(texts) != len(group):
                raise RuntimeError(f"{self.name} returned {len(texts)} texts for {len(group)} passages")
            tokens_in = sum(count_tokens(t) for t in group["text"])
            kept = group.assign(text=[t.strip() for t in texts])
            kept = kept[kept["text"] != ""]
            tokens_out = sum(count_tokens(t) for t in kept["text"])
            parts.append(kept.assign(refiner_tokens_in=tokens_in, refiner_tokens_out=tokens_out))
        if not parts:
            return top.assign(refiner_tokens_in=pd.Series(dtype=int), refiner_tokens_out=pd.Series(dtype=int))
        out = pd.concat(parts, ignore_index=True)
        return add_ranks(out.drop(columns=["rank"]))
