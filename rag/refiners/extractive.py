"""Extractive compression, RECOMP style (Xu et al., ICLR 2024; FlashRAG's ``ExtractiveRefiner``; METHODS §12.1).

Each passage is split into sentences (FlashRAG's splitter; sentences of at most ``min_chars`` characters are
dropped); every sentence is scored by the inner product of its embedding with the question's (RECOMP: mean-pooled,
not normalised; the offline all-MiniLM-L6-v2 normalises its outputs, so with it the score is the cosine); the
``sentences`` best of the question are kept, in their original order, each in the passage it came from (passages
left empty are dropped). RECOMP's trained compressors (Contriever-based) are not available offline: the default
embedder is the untrained MiniLM, like RECOMP's "off-the-shelf dense retriever" baselines.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np

from rag.core.errors import InputError
from rag.refiners.base import Refiner

# FlashRAG's splitter is r"(?<![A-Za-z]\.)(?<=[.!?])\s+", which as written never splits after a word ending in a
# letter ("ok. Next" stays one piece); we read its look-behind as meant for single-letter initials ("A.B. Smith")
_SENTENCE = re.compile(r"(?<!\b[A-Za-z]\.)(?<=[.!?])\s+")


def split_sentences(text: str, min_chars: int = 5) -> list[str]:
    """FlashRAG's extractive splitter (initials kept whole); pieces of at most ``min_chars`` characters after strip are dropped."""
    return [s.strip() for s in _SENTENCE.split(text or "") if len(s.strip()) > min_chars]


class Embedder(Protocol):
    """Texts to vectors (one row each)."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


def top_in_order(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores (ties: the earlier first), returned in their original order."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return sorted(order[:k])


@dataclasses.dataclass(repr=False)
class ExtractiveCompressor(Refiner):
    """Keep each question's ``sentences`` sentences most similar to the question (embedding inner product)."""

    model: str = "all-MiniLM-L6-v2"    # a sentence-transformers model name or local folder (offline: MiniLM)
    sentences: int = 5                  # sentences kept per question (FlashRAG refiner_topk: 5)
    min_chars: int = 5                  # shorter sentences are dropped (FlashRAG: 5)
    batch_size: int = 64
    threads: int | None = dataclasses.field(default=1, metadata={"config": False})   # CPU threads of the encoder
    embedder: Any = dataclasses.field(default=None, metadata={"config": False})   # Python only: a texts -> vectors callable instead of model

    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.sentences, int) or self.sentences < 1:
            raise InputError(f"sentences must be a positive integer, got {self.sentences!r}", field="sentences")

    def config(self) -> dict:
        cfg = super().config()
        if self.embedder is not None:
            cfg["embedder"] = getattr(self.embedder, "name", type(self.embedder).__name__)
        return cfg

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is not None:
            return np.asarray(self.embedder(texts), dtype="float64")
        from retrievers.encoders import encode, open_encoder

        encoder = self.__dict__.get("_encoder")
        if encoder is None:
            encoder = self.__dict__["_encoder"] = open_encoder("torch", self.model, threads=self.threads or 0)
        return encode(encoder, texts, self.batch_size, normalize=False,
                      desc="compress: encoding sentences").astype("float64")

    def refine_all(self, queries: list[str], passages: list[list[str]]) -> list[list[str]]:
        split = [[split_sentences(p, self.min_chars) for p in ps] for ps in passages]
        texts = [t for q, ps in zip(queries, split) for t in [q, *(s for p in ps for s in p)]]
        vectors = self._embed(texts) if texts else np.zeros((0, 1))
        out, row = [], 0
        for q, ps in zip(queries, split):
            n = sum(len(p) for p in ps)
            query, sents = vectors[row], vectors[row + 1: row + 1 + n]
            row += 1 + n
            keep = set(top_in_order((sents @ query).tolist(), self.sentences))
            refined, i = [], 0
            for p in ps:
                refined.append(" ".join(s for j, s in enumerate(p, start=i) if j in keep))
                i += len(p)
            out.append(refined)
        return out
