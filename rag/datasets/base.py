"""`Corpus` and `Dataset`: what every loader returns and every stage reads."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator

import pandas as pd

from rag.core.errors import InputError
from rag.core.hashing import hash_config, hash_frame
from rag.core.schema import check_id, check_qrels_against, validate_qrels, validate_queries
from rag.datasets.docstore import (FORMAT_VERSION as DOCSTORE_VERSION, DiskDocStore, Doc, DocStore, DuplicateId,
                                   IdCheck, MemoryDocStore, documents_frame, hash_probe)

log = logging.getLogger(__name__)



class Corpus:
    """A document collection: an iterable of ``{"docno", "title", "text"}`` dicts.

    ``docs`` is a function returning a fresh iterator (so a large corpus is streamed, not held),
    or an in-memory list/DataFrame. ``fingerprint`` identifies the content (a hash of the source
    files, usually); when omitted it is computed from the documents.
    Iteration checks ids: a missing or duplicate ``docno`` is an error (duplicates are found from sorted
    64-bit hashes when the iteration ends, 8 bytes per document, never a set of every id); empty documents
    are kept and counted in a warning.

    Text by id (:meth:`documents`, :meth:`texts`) comes from :meth:`docstore`: the documents of an
    in-memory corpus, else an on-disk store built once per corpus content into the cache
    (:mod:`rag.datasets.docstore`), so that looking up passages never holds the corpus in memory.
    """

    injected_as = "corpus"   # a stage field of this type is filled from the experiment's dataset

    def __init__(self, docs: Callable[[], Iterable[Doc]] | Iterable[Doc] | pd.DataFrame,
                 fingerprint: str | None = None, source: str | None = None, name: str = "corpus",
                 count: Callable[[], int] | None = None):
        self._records: list[Doc] | None = None
        if isinstance(docs, pd.DataFrame):
            frame = docs
            missing = [c for c in ("docno", "text") if c not in frame.columns]
            if missing:
                raise InputError(f"corpus table lacks column(s) {missing}", path=source, field=missing[0])
            self._records = frame.assign(title=frame["title"] if "title" in frame else "")[
                ["docno", "title", "text"]].to_dict("records")
        elif not callable(docs):
            self._records = list(docs)
        if self._records is not None:
            records = self._records
            self._factory: Callable[[], Iterable[Doc]] = lambda: records
            count = records.__len__
        else:
            self._factory = docs  # type: ignore[assignment]
        self._fingerprint = fingerprint
        self._count = count
        self.source = source
        self.name = name
        self._frame: pd.DataFrame | None = None
        self._len: int | None = None
        self._ids_checked = False
        self._store: DocStore | None = None

    # ------------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[Doc]:
        return self._iterate(check_ids=not self._ids_checked)

    def _iterate(self, check_ids: bool) -> Iterator[Doc]:
        ids = IdCheck() if check_ids else None
        empty = n = 0
        for n, doc in enumerate(self._factory(), start=1):
            docno = self._checked_id(doc, n)
            if ids is not None:
                ids.add(docno)
            title = doc.get("title") or ""
            text = doc.get("text") or ""
            if not str(title).strip() and not str(text).strip():
                empty += 1
            yield {"docno": docno, "title": str(title), "text": str(text)}
        if not n:
            raise InputError("the corpus is empty", path=self.source)
        if ids is not None:
            for first, second in ids.duplicates():
                self._raise_duplicate(first, second)
            self._ids_checked = True
        if empty:
            log.warning("%s: %d empty document(s) kept (they can never be retrieved)", self.source or self.name, empty)
        self._len = n

    def _checked_id(self, doc: Doc, n: int) -> str:
        docno = doc.get("docno")
        line = doc.get("_line")
        if docno is None or (isinstance(docno, str) and docno.strip() == ""):
            raise InputError(f"document number {n} has no id", path=self.source, line=line, field="docno")
        return check_id(docno, "document id", self.source, line, "docno")

    def _raise_duplicate(self, first: int, second: int) -> None:
        """Raise the error for documents number ``first`` < ``second`` (1-based) when their ids are equal
        (equal hashes of different ids are ignored); reads the corpus again up to ``second``."""
        found: dict[int, tuple[str, Any]] = {}
        for n, doc in enumerate(self._factory(), start=1):
            if n in (first, second):
                found[n] = (self._checked_id(doc, n), doc.get("_line"))
            if n >= second:
                break
        (docno, first_line), (other, line) = found[first], found[second]
        if docno == other:
            where = f"line {first_line}" if line is not None else f"document number {first}"
            raise InputError(f"duplicate document id {docno!r} (first at {where})", path=self.source, line=line,
                             field="docno")

    def __len__(self) -> int:
        """The number of documents (never reads them into memory: counted by the docstore at worst)."""
        hint = self.length_hint() if self._records is not None or self._len is not None else None
        return hint if hint is not None else len(self.docstore())

    def length_hint(self) -> int | None:
        """The number of documents when it is cheap to know (already read, in memory, or counted from the
        source file's lines), for progress totals; None otherwise. Never reads the documents."""
        if self._len is not None:
            return self._len
        if self._store is not None:
            return len(self._store)
        if self._frame is not None:
            return len(self._frame)
        if self._count is not None:
            try:
                return self._count()
            except OSError:
                return None
        return None

    def frame(self) -> pd.DataFrame:
        """The whole corpus as a DataFrame ``docno, title, text`` (built once, then kept). For stages that
        need every document (dense encoding, training); passages by id come from :meth:`documents`."""
        if self._frame is None:
            self._frame = pd.DataFrame(list(iter(self)), columns=["docno", "title", "text"])
        return self._frame

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = hash_frame(self.frame())
        return self._fingerprint

    # ------------------------------------------------------------------ text by id
    def docstore(self) -> DocStore:
        """Titles and texts by id: in memory for an in-memory corpus, else the on-disk store of this corpus
        content (built on first use into the cache, reused by every later run)."""
        if self._store is None:
            if self._records is not None:
                self._store = MemoryDocStore(iter(self), source=self.source)
            else:
                self._store = self._disk_store()
            self._len = len(self._store)
        return self._store

    def _disk_store(self) -> DocStore:
        from rag.core.cache import Cache

        cache = Cache.active() or Cache()
        key = hash_config("docstore", DOCSTORE_VERSION, hash_probe(), self.fingerprint())

        def build(folder: Path) -> None:
            try:   # the store checks the ids itself (from its sorted hashes)
                DiskDocStore.build(self._iterate(check_ids=False), folder, total=self.length_hint(), source=self.source)
            except DuplicateId as dup:
                self._raise_duplicate(dup.first, dup.second)
                raise
        store = DiskDocStore(cache.artifact("docstore", key, build), source=self.source)
        self._ids_checked = True
        return store

    def documents(self, docnos: Iterable[str]) -> pd.DataFrame:
        """Rows ``docno, title, text`` of the corpus for the given ids, in that order; an unknown id is an
        error."""
        return documents_frame(self.docstore(), [str(d) for d in docnos])

    def texts(self, docnos: Iterable[str], with_title: bool = True) -> list[str]:
        """Document texts for the given ids (title and text joined by a newline when ``with_title``)."""
        titles, texts = self.docstore().fetch([str(d) for d in docnos])
        if not with_title:
            return texts
        return [f"{t}\n{x}" if t else x for t, x in zip(titles, texts)]

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
        store = self.corpus.docstore() if self.corpus is not None else None   # reads and checks every document
        for split in self.splits:
            counts = {"queries": len(self.queries(split))}
            if self.has_qrels(split):
                qrels = self.qrels(split)
                counts["judgements"] = len(qrels)
                if store is not None:
                    judged = qrels["docno"].astype(str).unique()
                    present = set(judged[store.known(list(judged))])
                    check_qrels_against(qrels, docnos=present, source=self.source)
                    counts["judgements_of_unknown_documents"] = int((~qrels["docno"].isin(present)).sum())
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
