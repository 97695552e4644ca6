"""`Corpus` and `Dataset`: what every loader returns and every stage reads."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator

import pandas as pd

from rag.core.errors import InputError
from rag.core.hashing import hash_config, hash_frame
from rag.core.schema import check_id, check_qrels_against, validate_qrels, validate_queries

log = logging.getLogger(__name__)

Doc = dict[str, str]


class Corpus:
    """A document collection: an iterable of ``{"docno", "title", "text"}`` dicts.

    ``docs`` is a function returning a fresh iterator (so a large corpus is streamed, not held),
    or an in-memory list/DataFrame. ``fingerprint`` identifies the content (a hash of the source
    files, usually); when omitted it is computed from the documents.
    Iteration checks ids: a missing or duplicate ``docno`` is an error; empty documents are kept
    and counted in a warning.
    """

    injected_as = "corpus"   # a stage field of this type is filled from the experiment's dataset

    def __init__(self, docs: Callable[[], Iterable[Doc]] | Iterable[Doc] | pd.DataFrame,
                 fingerprint: str | None = None, source: str | None = None, name: str = "corpus",
                 count: Callable[[], int] | None = None):
        if isinstance(docs, pd.DataFrame):
            frame = docs
            missing = [c for c in ("docno", "text") if c not in frame.columns]
            if missing:
                raise InputError(f"corpus table lacks column(s) {missing}", path=source, field=missing[0])
            records = frame.assign(title=frame["title"] if "title" in frame else "")[
                ["docno", "title", "text"]].to_dict("records")
            self._factory: Callable[[], Iterable[Doc]] = lambda: records
            count = records.__len__
        elif callable(docs):
            self._factory = docs
        else:
            records = list(docs)
            self._factory = lambda: records
            count = records.__len__
        self._fingerprint = fingerprint
        self._count = count
        self.source = source
        self.name = name
        self._frame: pd.DataFrame | None = None
        self._len: int | None = None
        self._index: dict[str, int] | None = None

    def __iter__(self) -> Iterator[Doc]:
        seen: dict[str, int] = {}
        empty = 0
        for n, doc in enumerate(self._factory()):
            line = doc.get("_line")
            docno = doc.get("docno")
            if docno is None or (isinstance(docno, str) and docno.strip() == ""):
                raise InputError(f"document number {n + 1} has no id", path=self.source, line=line, field="docno")
            docno = check_id(docno, "document id", self.source, line, "docno")
            if docno in seen:
                first = f"line {seen[docno]}" if line is not None else f"document number {seen[docno]}"
                raise InputError(f"duplicate document id {docno!r} (first at {first})", path=self.source,
                                 line=line, field="docno")
            seen[docno] = line if line is not None else n + 1
            title = doc.get("title") or ""
            text = doc.get("text") or ""
            if not str(title).strip() and not str(text).strip():
                empty += 1
            yield {"docno": docno, "title": str(title), "text": str(text)}
        if not seen:
            raise InputError("the corpus is empty", path=self.source)
        if empty:
            log.warning("%s: %d empty document(s) kept (they can never be retrieved)", self.source or self.name, empty)
        self._len = len(seen)

    def __len__(self) -> int:
        if self._len is None:
            self._len = len(self.frame())
        return self._len

    def length_hint(self) -> int | None:
        """The number of documents when it is cheap to know (already read, in memory, or counted from the
        source file's lines), for progress totals; None otherwise. Never reads the documents."""
        if self._len is not None:
            return self._len
        if self._frame is not None:
            return len(self._frame)
        if self._count is not None:
            try:
                return self._count()
            except OSError:
                return None
        return None

    def frame(self) -> pd.DataFrame:
        """The whole corpus as a DataFrame ``docno, title, text`` (built once, then kept)."""
        if self._frame is None:
            self._frame = pd.DataFrame(list(iter(self)), columns=["docno", "title", "text"])
        return self._frame

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = hash_frame(self.frame())
        return self._fingerprint

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            self._index = {d: i for i, d in enumerate(self.frame()["docno"])}
        return self._index

    def documents(self, docnos: Iterable[str]) -> pd.DataFrame:
        """Rows of the corpus for the given ids, in that order; an unknown id is an error."""
        index = self._lookup()
        positions = []
        for d in docnos:
            pos = index.get(str(d))
            if pos is None:
                raise InputError(f"document id {d!r} is not in the corpus", path=self.source, field="docno")
            positions.append(pos)
        return self.frame().iloc[positions].reset_index(drop=True)

    def texts(self, docnos: Iterable[str], with_title: bool = True) -> list[str]:
        """Document texts for the given ids (title and text joined by a newline when ``with_title``)."""
        rows = self.documents(docnos)
        if not with_title:
            return rows["text"].tolist()
        return [f"{t}\n{x}" if t else x for t, x in zip(rows["title"], rows["text"])]

    def __repr__(self) -> str:
        size = f"{self._len} docs" if self._len is not None else "unloaded"
        return f"Corpus({self.name!r}, {size})"


Loader = Callable[[], pd.DataFrame]


@dataclass
class Dataset:
    """A test collection or QA set: corpus, queries and qrels per split, gold answers, metadata.

    ``queries(split)`` has ``qid, query`` and, where the data has them, ``instruction`` (task or
    per-query), ``answers`` (list of gold strings) and metadata columns (``s_pop``, ``relation``...).
    ``candidates(split)`` (re-ranking tasks such as BIRCO, FollowIR) is a results table of the pool
    to re-rank per query.
    """

    injected_as: ClassVar[str] = "dataset"   # a stage field of this type is filled from the experiment
    name: str
    corpus: Corpus | None = None
    query_loaders: dict[str, Loader] = field(default_factory=dict)
    qrels_loaders: dict[str, Loader] = field(default_factory=dict)
    candidate_loaders: dict[str, Loader] = field(default_factory=dict)
    default_split: str = "test"
    instruction: str | None = None
    description: str = ""
    source: str | None = None
    fingerprint_parts: tuple[Any, ...] = ()
    _memo: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def splits(self) -> list[str]:
        return sorted(self.query_loaders)

    def _split(self, split: str | None) -> str:
        split = split or self.default_split
        if split not in self.query_loaders:
            raise InputError(f"dataset {self.name!r} has no split {split!r}; it has {self.splits}", field="split")
        return split

    def queries(self, split: str | None = None) -> pd.DataFrame:
        split = self._split(split)
        if ("queries", split) not in self._memo:
            frame = validate_queries(self.query_loaders[split](), source=self.source)
            if self.instruction and "instruction" not in frame.columns:
                frame["instruction"] = self.instruction
            self._memo[("queries", split)] = frame
        return self._memo[("queries", split)].copy()

    def has_qrels(self, split: str | None = None) -> bool:
        return (split or self.default_split) in self.qrels_loaders

    def qrels(self, split: str | None = None) -> pd.DataFrame:
        split = self._split(split)
        if split not in self.qrels_loaders:
            raise InputError(f"dataset {self.name!r} has no relevance judgements for split {split!r}")
        if ("qrels", split) not in self._memo:
            qrels = validate_qrels(self.qrels_loaders[split](), source=self.source)
            qrels = check_qrels_against(qrels, qids=self.queries(split)["qid"], source=self.source)
            self._memo[("qrels", split)] = qrels
        return self._memo[("qrels", split)].copy()

    def validate(self) -> dict[str, dict[str, int]]:
        """Read everything once and check it: ids, empty texts, judgements against queries *and* the
        corpus (which :meth:`qrels` alone does not read). Problems that are errors raise
        :class:`InputError`; the rest are logged as warnings and returned as counts per split."""
        report: dict[str, dict[str, int]] = {}
        docnos = set(self.corpus.frame()["docno"]) if self.corpus is not None else None
        for split in self.splits:
            counts = {"queries": len(self.queries(split))}
            if self.has_qrels(split):
                qrels = self.qrels(split)
                counts["judgements"] = len(qrels)
                if docnos is not None:
                    check_qrels_against(qrels, docnos=docnos, source=self.source)
                    counts["judgements_of_unknown_documents"] = int((~qrels["docno"].isin(docnos)).sum())
            report[split] = counts
        return report

    def candidates(self, split: str | None = None) -> pd.DataFrame:
        split = self._split(split)
        if split not in self.candidate_loaders:
            raise InputError(f"dataset {self.name!r} has no candidate pool for split {split!r}")
        return self.candidate_loaders[split]().copy()

    def answers(self, split: str | None = None) -> pd.DataFrame:
        """``qid, answers`` (gold answer lists)."""
        queries = self.queries(split)
        if "answers" not in queries.columns:
            raise InputError(f"dataset {self.name!r} has no gold answers")
        return queries[["qid", "answers"]]

    def fingerprint(self) -> str:
        """Identity of the whole dataset (source files or content), for cache keys and provenance."""
        parts = self.fingerprint_parts
        if not parts:
            parts = tuple(hash_frame(self.queries(s)) for s in self.splits)
        corpus = self.corpus.fingerprint() if self.corpus is not None else None
        return hash_config(self.name, corpus, list(parts), self.instruction)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, splits={self.splits}, corpus={self.corpus!r})"
