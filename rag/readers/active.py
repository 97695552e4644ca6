"""What the active-retrieval readers (FLARE, IRCoT) share: first sentences, token probabilities of a sentence,
retrieval through any ragif retriever in the middle of generation, and the per-question output columns."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import add_ranks
from rag.core.stage import Stage
from rag.llm.base import Generation

# FlashRAG's sentence boundary (active_pipeline.py): a full stop or question mark after a non-capital, then spaces
_BOUNDARY = re.compile(r"(?<=[^A-Z].[.?!])\s+")


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (FlashRAG's rule; "Dr. Who" and initials stay whole)."""
    return [s for s in _BOUNDARY.split((text or "").strip()) if s.strip()]


def first_sentence(text: str, min_chars: int = 5) -> str:
    """The first sentence of ``text`` with at least ``min_chars`` characters (FLARE keeps joining shorter
    leading pieces, as its first-sentence rule does)."""
    out = ""
    for piece in sentences(text):
        out = f"{out} {piece}".strip() if out else piece
        if len(out) >= min_chars:
            break
    return out


def sentence_tokens(gen: Generation, sentence: str) -> tuple[list[str] | None, list[float]]:
    """The tokens (texts, when the backend gives them) and probabilities that make up ``sentence``, the start of
    ``gen.text``. Without token texts every probability of the generation is used (the conservative reading:
    a low-probability token anywhere triggers retrieval)."""
    lps = list(gen.token_logprobs or [])
    probs = [math.exp(lp) for lp in lps]
    if not gen.tokens or len(gen.tokens) != len(lps):
        return None, probs
    want = len(sentence.strip())
    text, n = "", 0
    for n, token in enumerate(gen.tokens, 1):
        text += token
        if len(text.strip()) >= want:
            break
    return list(gen.tokens[:n]), probs[:n]


@dataclass
class Passage:
    """A retrieved passage an active reader may put in its prompt."""

    docno: str
    title: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"docno": self.docno, "title": self.title, "text": self.text}


def retrieve(retriever: Stage, queries: dict[str, str], k: int, columns: pd.DataFrame | None = None
             ) -> dict[str, list[Passage]]:
    """The top ``k`` passages for each ``qid -> query text`` from any ragif retriever or pipeline (which must give
    ``text``, e.g. ``[bm25, add-text]``). ``columns``: the questions' other columns (one row per qid)."""
    if not queries:
        return {}
    frame = pd.DataFrame({"qid": list(queries), "query": list(queries.values())})
    if columns is not None:
        extra = [c for c in columns.columns if c not in ("qid", "query", "docno", "score", "rank", "text", "title")]
        frame = frame.merge(columns.drop_duplicates("qid")[["qid", *extra]], on="qid", how="left")
    hits = retriever(frame)
    if "text" not in hits.columns:
        raise InputError("the retriever of an active reader must give passage text: end its pipeline with "
                         "add-text, e.g. retriever: [{bm25: {k: 10}}, add-text]", field="retriever")
    hits = hits if "rank" in hits.columns else add_ranks(hits)
    hits = hits[hits["rank"] < k].sort_values(["qid", "rank"], kind="mergesort")
    titles = hits["title"] if "title" in hits.columns else pd.Series([""] * len(hits), index=hits.index)
    out: dict[str, list[Passage]] = {q: [] for q in queries}
    for qid, docno, title, text in zip(hits["qid"].astype(str), hits["docno"].astype(str), titles, hits["text"]):
        out.setdefault(qid, []).append(Passage(docno, "" if pd.isna(title) else str(title),
                                               "" if pd.isna(text) else str(text)))
    return out


@dataclass
class Trace:
    """What one question's active reading did: the passages it read, its retrievals and LLM calls."""

    passages: list[Passage] = field(default_factory=list)   # every passage that was in a prompt, first use first
    queries: list[str] = field(default_factory=list)         # the retrieval queries, in order
    steps: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = True

    def read(self, passages: Sequence[Passage]) -> None:
        seen = {p.docno for p in self.passages}
        self.passages += [p for p in passages if p.docno not in seen]

    def paid(self, gen: Generation) -> None:
        self.calls += 1
        self.prompt_tokens += int(getattr(gen, "prompt_tokens", 0) or 0)
        self.completion_tokens += int(getattr(gen, "completion_tokens", 0) or 0)
        self.seconds += float(getattr(gen, "latency_s", 0.0) or 0.0)
        self.cached = self.cached and bool(getattr(gen, "cached", False))


def answers_frame(questions: pd.DataFrame, answers: list[str], raw: list[str], traces: list[Trace],
                  extra: dict[str, list[Any]]) -> pd.DataFrame:
    """The reader's output columns for active readers (``retrievals`` = retrieval calls per question)."""
    from rag.llm.stage import add_cost

    out = questions.copy()
    out["answer"] = answers
    out["raw_answer"] = raw
    out["contexts"] = [[p.text for p in t.passages] for t in traces]
    out["context_titles"] = [[p.title for p in t.passages] for t in traces]
    out["context_docnos"] = [[p.docno for p in t.passages] for t in traces]
    out["passages"] = [len(t.passages) for t in traces]
    out["retrieved"] = [bool(t.queries) for t in traces]
    out["retrievals"] = [len(t.queries) for t in traces]
    out["retrieval_queries"] = [list(t.queries) for t in traces]
    out["llm_calls"] = [t.calls for t in traces]
    out["prompt_tokens"] = [t.prompt_tokens for t in traces]
    out["completion_tokens"] = [t.completion_tokens for t in traces]
    out["latency_s"] = [t.seconds for t in traces]
    out["cached"] = [t.cached for t in traces]
    for column, values in extra.items():
        out[column] = values
    return add_cost(out, out["prompt_tokens"], out["completion_tokens"], out["latency_s"])
