"""Selective Context (Li et al., EMNLP 2023; METHODS.md §12.2): drop the least informative units of the context.

Whitespace is normalised; the context (a question's passages) is split into sentences (Selective Context's regex);
each sentence is scored token by token on its own by a small LM (:mod:`rag.refiners.surprisal`, default the offline
Qwen2.5-0.5B; Selective Context used GPT-2); a unit's score is the mean self-information of its tokens; the threshold
is ``numpy.nanpercentile(unit scores, ratio * 100)`` over the question's units and every unit scoring *below* it is
removed (so about ``ratio`` of the units by count; ties can remove more). Units: ``sentence``, ``word`` (runs of
non-space characters: Selective Context's default is spaCy noun phrases, which need a model not available offline)
or ``token``. Kept units are re-joined with single spaces (tokens: as generated).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Literal

import numpy as np

from rag.core.errors import InputError
from rag.refiners.base import Refiner
from rag.refiners.surprisal import LlamaCppSurprisal, Scored

_SENTENCE = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?)\s")


def split_sentences(text: str) -> list[str]:
    """Selective Context's sentence splitter on whitespace-normalised text ("Dr. Who" stays whole)."""
    return [s for s in _SENTENCE.split(re.sub(r"\s+", " ", text or "").strip()) if s.strip()]


def drop_below(scores: list[float], ratio: float) -> list[bool]:
    """Which units to keep: score not below ``nanpercentile(scores, ratio*100)`` (NaN scores are kept)."""
    values = np.asarray(scores, dtype="float64")
    if not len(values) or np.isnan(values).all():
        return [True] * len(values)
    threshold = np.nanpercentile(values, ratio * 100)
    return [not (v < threshold) for v in values]


def word_units(sentence: str, scored: Scored) -> list[tuple[str, float]]:
    """The sentence's words with the mean surprisal of the LM tokens that start inside each word."""
    spans = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", sentence)]
    sums = [[] for _ in spans]
    position = 0
    for token, value in scored:
        start = position + (len(token) - len(token.lstrip()))
        position += len(token)
        for w, (a, b, _) in enumerate(spans):
            if a <= start < b:
                sums[w].append(value)
                break
    return [(text, float(np.mean(v)) if v else float("nan")) for (_, _, text), v in zip(spans, sums)]


@dataclasses.dataclass(repr=False)
class SelectiveContext(Refiner):
    """Prune each question's passages to the units a small LM finds most informative (surprisal)."""

    model: str = "qwen-0.5b"            # a rag.llm GGUF name or a .gguf path
    ratio: float = 0.35                 # fraction of units removed (Selective Context default 0.35; FlashRAG 0.5)
    unit: Literal["sentence", "word", "token"] = "word"   # what is kept or dropped
    scorer: Any = dataclasses.field(default=None, metadata={"config": False})   # Python only: a SurprisalModel instead of model

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.ratio < 1:
            raise InputError(f"ratio is a fraction in [0, 1), got {self.ratio!r}", field="ratio")
        if self.unit not in ("sentence", "word", "token"):
            raise InputError(f"unit must be 'sentence', 'word' or 'token', got {self.unit!r}", field="unit")

    def config(self) -> dict:
        cfg = super().config()
        if self.scorer is not None:
            cfg["scorer"] = getattr(self.scorer, "name", type(self.scorer).__name__)
        return cfg

    def _scorer(self):
        if self.scorer is None:
            self.scorer = LlamaCppSurprisal(self.model)
        return self.scorer

    def units(self, sentence: str, scored: Scored) -> list[tuple[str, float]]:
        if self.unit == "sentence":
            values = [v for _, v in scored]
            return [(sentence, float(np.mean(values)) if values else float("nan"))]
        if self.unit == "word":
            return word_units(sentence, scored)
        return [(t, v) for t, v in scored]

    def refine(self, query: str, passages: list[str]) -> list[str]:
        split = [split_sentences(p) for p in passages]
        scored = self._scorer().surprisal([s for ss in split for s in ss])
        units: list[list[list[tuple[str, float]]]] = []
        i = 0
        for ss in split:
            units.append([self.units(s, scored[i + j]) for j, s in enumerate(ss)])
            i += len(ss)
        flat = [v for p in units for s in p for _, v in s]
        keep = iter(drop_below(flat, self.ratio))
        out = []
        for p in units:
            parts = []
            for sentence in p:
                kept = [text for text, _ in sentence if next(keep)]
                if kept:
                    parts.append(("" if self.unit == "token" else " ").join(kept).strip())
            out.append(" ".join(parts))
        return out
