"""Subject and subject-relation counts computed from a corpus (for :class:`~.policies.CountThreshold`).

WiTQA's counts come from triples extracted from Wikipedia. Without triples, this stage approximates
them from text (our design, METHODS.md §5.2 UNVERIFIED): ``s_count`` is the number of documents that
contain the subject's name (case-insensitive, whole words); ``sr_count`` the number of those that also
contain one of the relation's cue phrases (:data:`RELATION_CUES`, configurable; an unknown relation's
cue is its own name).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from rag.core.schema import require_columns
from rag.core.stage import Stage
from rag.datasets import Corpus

RELATION_CUES: dict[str, list[str]] = {
    "occupation": ["occupation", "profession", "worked as", "works as", "career"],
    "place of birth": ["born"],
    "genre": ["genre"],
    "father": ["father", "son of", "daughter of"],
    "mother": ["mother", "son of", "daughter of"],
    "country": ["country"],
    "producer": ["produced", "producer"],
    "director": ["directed", "director"],
    "capital of": ["capital"],
    "capital": ["capital"],
    "screenwriter": ["screenplay", "screenwriter", "written by"],
    "composer": ["composed", "composer", "music by"],
    "color": ["color", "colour"],
    "religion": ["religion", "religious"],
    "sport": ["sport", "player", "played"],
    "author": ["author", "written by", "wrote"],
}

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(repr=False)
class MentionCounts(Stage):
    """Add ``s_count`` and ``sr_count`` (document counts in ``corpus``) to a queries table with
    ``subject`` and ``relation`` columns."""

    corpus: Corpus
    subject: str = "subject"   # the subject column
    relation: str = "relation"   # the relation column
    cues: dict[str, list[str]] = field(default_factory=lambda: dict(RELATION_CUES))   # per relation: words that signal it in a passage

    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("s_count", "sr_count")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, (self.subject, self.relation), self.name)
        texts: list[str] = []
        postings: dict[str, set[int]] = defaultdict(set)
        for doc in self.corpus:
            normal = " " + " ".join(_words(f"{doc['title']} {doc['text']}")) + " "
            for w in set(normal.split()):
                postings[w].add(len(texts))
            texts.append(normal)
        subject_docs: dict[str, list[int]] = {}
        for subject in frame[self.subject].astype(str).unique():
            words = _words(subject)
            if not words:
                subject_docs[subject] = []
                continue
            candidates = set.intersection(*(postings.get(w, set()) for w in words))
            phrase = " " + " ".join(words) + " "
            subject_docs[subject] = sorted(i for i in candidates if phrase in texts[i])
        s_counts, sr_counts = [], []
        for subject, relation in zip(frame[self.subject].astype(str), frame[self.relation].astype(str)):
            docs = subject_docs[subject]
            cues = [" " + " ".join(_words(c)) + " " for c in self.cues.get(relation, [relation])]
            s_counts.append(len(docs))
            sr_counts.append(sum(1 for i in docs if any(c in texts[i] for c in cues)))
        return frame.assign(s_count=s_counts, sr_count=sr_counts)
