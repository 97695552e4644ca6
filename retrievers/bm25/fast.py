"""BM25 without a JVM: Lucene's analysis and scoring over numpy arrays, searched by a numba kernel.

>>> from retrievers.bm25.fast import FastBM25
>>> bm25 = FastBM25(corpus, k1=0.9, b=0.4)             # doctest: +SKIP
>>> bm25.search("microstructural development of white matter")   # doctest: +SKIP

It ranks as :class:`~retrievers.lucene.LuceneBM25` (flat fields) does: same terms (see
:mod:`retrievers.bm25.analysis`), same scores up to float rounding. The index is built once per corpus
content and analyzer into the cache (``fast-bm25-index``), the scoring tables once per ``(k1, b)``
(``fast-bm25-impacts``); both are ``.npy`` files opened memory-mapped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.core.hashing import hash_config
from rag.core.schema import query_columns

from retrievers.bm25.analysis import LuceneAnalyzer
from retrievers.bm25.index import FORMAT_VERSION, IMPACTS_VERSION, Impacts, PostingsIndex, build_impacts, build_postings
from retrievers.bm25.queries import encode_queries, hits_frame
from retrievers.bm25.search import has_numba, order_terms, search_numba, search_numpy
from retrievers.bm25.spill import memory_estimate, run_postings_for
from retrievers.base import Retriever
from retrievers.parameters import check_bm25_parameters

log = logging.getLogger(__name__)

Engine = Literal["auto", "numba", "numpy"]


def flat_text(doc: dict) -> str:
    """Title and text as one field, as Pyserini's "flat" BEIR indexes have them."""
    return f"{doc['title']}\n{doc['text']}" if doc["title"] else doc["text"]


@dataclass(repr=False)
class FastBM25(Retriever):
    """BM25 (Lucene's formula and English analysis) in-process; no Java needed.

    ``k1``, ``b``, ``k``, ``instruction`` and ``rerank`` mean what they mean for ``LuceneBM25``;
    title and text are indexed as one field. ``engine``: ``numba`` (parallel over queries with
    ``threads``), ``numpy`` or ``auto`` (numba when installed); all give the same results.
    ``mmap``: open the index memory-mapped (default) or read it into memory. ``build_memory_mb``: the index
    build keeps at most about this much postings in memory and spills the rest to disk (the index is the
    same); it says what it will hold before it starts.
    """

    k1: float = 0.9
    b: float = 0.4
    engine: Engine = field(default="auto", metadata={"config": False})
    threads: int = field(default=2, metadata={"config": False})
    mmap: bool = field(default=True, metadata={"config": False})
    build_memory_mb: int = field(default=1024, metadata={"config": False})   # MB of postings a build holds
    exact_cutoff: ClassVar[bool] = True   # ties go to the lower document number, and documents are in docno order

    def __post_init__(self) -> None:
        super().__post_init__()
        check_bm25_parameters(self.k1, self.b, self.k, self.threads)
        if isinstance(self.build_memory_mb, bool) or not isinstance(self.build_memory_mb, int) or \
                self.build_memory_mb < 16:
            from rag.core.errors import InputError
            raise InputError(f"build_memory_mb must be an integer of at least 16, got {self.build_memory_mb!r}",
                             field="build_memory_mb")
        if self.engine == "numba" and not has_numba():
            from rag.core.errors import MissingDependencyError
            raise MissingDependencyError("numba", extra="fast", purpose="the numba BM25 engine")
        self.analyzer = LuceneAnalyzer()
        self._index: PostingsIndex | None = None
        self._impacts: Impacts | None = None
        self._zero_safe: bool | None = None

    # ------------------------------------------------------------------ index
    def index_key(self) -> str:
        return hash_config("fast-bm25-index", FORMAT_VERSION, self.corpus.fingerprint(), self.analyzer.identity())

    def _build(self, folder: Path) -> None:
        total = self.corpus.length_hint()   # never reads the documents
        log.info("bm25-fast index build: %s", memory_estimate(self.build_memory_mb, total))
        build_postings(((d["docno"], flat_text(d)) for d in self.corpus), self.analyzer, folder,
                       self.analyzer.identity(), total=total, memory_mb=self.build_memory_mb)

    def index(self) -> PostingsIndex:
        """The postings of the corpus (built into the cache on first use)."""
        if self._index is None:
            cache = Cache.active() or Cache()
            folder = cache.artifact("fast-bm25-index", self.index_key(), self._build)
            self._index = PostingsIndex.open(folder, mmap=self.mmap)
        return self._index

    def impacts(self) -> Impacts:
        if self._impacts is None:
            index = self.index()
            cache = Cache.active() or Cache()
            key = hash_config("fast-bm25-impacts", IMPACTS_VERSION, self.index_key(), float(self.k1), float(self.b))
            chunk = run_postings_for(self.build_memory_mb)
            folder = cache.artifact("fast-bm25-impacts", key,
                                    lambda tmp: build_impacts(index, self.k1, self.b, tmp, chunk=chunk))
            self._impacts = Impacts.open(folder, mmap=self.mmap)
        return self._impacts

    def prepare(self) -> None:
        """Build (or open) the index and scoring tables now, e.g. before shards fan out to workers."""
        self.impacts()

    def __getstate__(self) -> dict:
        # workers reopen the memory-mapped files from the cache folder instead of receiving copies
        return {**self.__dict__, "_index": None, "_impacts": None, "_zero_safe": None, "analyzer": LuceneAnalyzer()}

    # ------------------------------------------------------------------ search
    def encode_queries(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR arrays of the queries' known term ids and their counts (Anserini's bag of words)."""
        return encode_queries(texts, self.analyzer, self.index().terms)

    def search_arrays(self, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(doc numbers, scores)`` of shape (len(texts), k); missing hits are -1 / 0."""
        index, imp = self.index(), self.impacts()
        q_indptr, q_terms, q_counts = self.encode_queries(texts)
        q_terms, q_counts, bounds = order_terms(q_indptr, q_terms, q_counts, imp.max_impact)
        arrays = (index.indptr, index.docs, index.tf, imp.impacts, imp.idf, imp.inv_norm, index.n_docs, k)
        if self.engine == "numba" or (self.engine == "auto" and has_numba()):
            if self._zero_safe is None:
                self._zero_safe = imp.has_zero_impacts
            return search_numba(q_indptr, q_terms, q_counts, bounds, *arrays, threads=self.threads,
                                has_zero_impacts=self._zero_safe)
        return search_numpy(q_indptr, q_terms, q_counts, *arrays)

    def rank(self, queries: pd.DataFrame, texts: list[str]) -> pd.DataFrame:
        # hits come sorted by score, ties by docno (documents are numbered in docno order), and queries
        # by qid: the order add_ranks gives, built column by column without sorting a million rows again
        order = queries.assign(qid=queries["qid"].astype(str)).reset_index(drop=True)
        order = order.iloc[order["qid"].argsort(kind="stable")]
        docs, scores = self.search_arrays([texts[i] for i in order.index], min(self.k, self.index().n_docs))
        return hits_frame(order.reset_index(drop=True), query_columns(order), self.index().docno_array, docs, scores)

    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:
        docs, scores = self.search_arrays(texts, min(k, self.index().n_docs))
        found = hits_frame(pd.DataFrame({"qid": [str(q) for q in qids]}), ["qid"], self.index().docno_array, docs,
                           scores)
        return found.drop(columns="rank")
