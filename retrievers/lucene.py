"""BM25 over Lucene (pyserini/Anserini), indexed in-process from any corpus and cached by content."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.hashing import hash_config
from rag.core.progress import progress
from rag.datasets import Corpus
from retrievers import java
from retrievers.base import Retriever
from retrievers.parameters import check_bm25_parameters

log = logging.getLogger(__name__)

ANSERINI_JAR_VERSION = "anserini-1.7.1"
Fields = Literal["flat", "multifield"]


def build_index(corpus: Corpus, folder: Path, fields: Fields = "flat", threads: int = 2) -> int:
    """Index ``corpus`` into ``folder`` with Anserini's default English analyzer; returns the doc count.

    ``flat``: title and text in one ``contents`` field (Pyserini's BEIR "flat" indexes);
    ``multifield``: ``title`` and ``contents`` as separate fields, searched together.
    """
    indexer_cls = java.autoclass("io.anserini.index.SimpleIndexer")
    args = ["-index", str(folder), "-input", "", "-collection", "JsonCollection", "-threads", str(threads)]
    if fields == "multifield":
        args += ["-fields", "title"]
    indexer = indexer_cls(args)
    count = 0
    try:
        for doc in progress(corpus, total=corpus.length_hint(), desc="Lucene indexing", unit="doc"):
            if fields == "flat":
                contents = f"{doc['title']}\n{doc['text']}" if doc["title"] else doc["text"]
                record = {"id": doc["docno"], "contents": contents}
            else:
                record = {"id": doc["docno"], "contents": doc["text"], "title": doc["title"]}
            indexer.addRawDocument(json.dumps(record))
            count += 1
    finally:
        indexer.close()
    return count


@dataclass(repr=False)
class LuceneBM25(Retriever):
    """BM25 retrieval with Lucene (Anserini 1.7 via pyserini 1.6).

    Defaults are Pyserini's (k1=0.9, b=0.4, title and text in one field), which give nDCG@10 0.6789 on
    BEIR SciFact. ``rerank=True`` scores only each query's given candidates (input ``docno``), keeping
    candidates without a matching term at score 0. The query's ``instruction`` (if any) joins its text
    as ``instruction`` says (see :mod:`retrievers.instructions`).
    """

    k1: float = 0.9
    b: float = 0.4
    fields: Fields = "flat"
    threads: int = field(default=2, metadata={"config": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_bm25_parameters(self.k1, self.b, self.k, self.threads)
        if self.fields not in ("flat", "multifield"):
            raise InputError(f"fields must be 'flat' or 'multifield', got {self.fields!r}", field="fields")
        self._searcher = None

    # ------------------------------------------------------------------ index
    def index_key(self) -> str:
        return hash_config("lucene-index", ANSERINI_JAR_VERSION, self.corpus.fingerprint(), self.fields)

    def index_path(self) -> Path:
        """The cached index folder (built on first use)."""
        cache = Cache.active() or Cache()
        return cache.artifact("lucene-index", self.index_key(),
                              lambda tmp: build_index(self.corpus, tmp, self.fields, self.threads))

    def prepare(self) -> None:
        """Build (or find) the index now, e.g. before query shards fan out to Ray workers."""
        self.index_path()

    def __getstate__(self) -> dict:
        # a Java searcher cannot travel to a worker: each worker opens the index from the shared cache
        return {**self.__dict__, "_searcher": None}

    def searcher(self):
        if self._searcher is None:
            searcher_cls = java.autoclass("io.anserini.search.SimpleSearcher")
            self._searcher = searcher_cls(str(self.index_path()))
            self._searcher.set_bm25(float(self.k1), float(self.b))
        return self._searcher

    # ------------------------------------------------------------------ search
    def _allow_long_queries(self, texts: list[str]) -> None:
        """Raise Lucene's clause limit (1,024 by default; Anserini 1.7.1 keeps it) so that no query is cut.

        A bag-of-words query has one clause per distinct analysed term per field, and a term takes at
        least one character, so ``fields * (longest query + 1)`` clauses always suffice. The limit is
        process-wide and only ever raised."""
        needed = (2 if self.fields == "multifield" else 1) * (max((len(t) for t in texts), default=0) + 1) + 8
        index_searcher = java.autoclass("org.apache.lucene.search.IndexSearcher")
        current = int(index_searcher.getMaxClauseCount())
        if needed > current:
            index_searcher.setMaxClauseCount(int(needed))
            log.info("Lucene clause limit raised from %d to %d for a query of %d characters", current, needed,
                     max(len(t) for t in texts))

    def _run_batch(self, texts: list[str], qids: list[str], k: int) -> dict:
        array_list = java.autoclass("java.util.ArrayList")
        jtexts, jqids = array_list(), array_list()
        for t, q in zip(texts, qids):
            jtexts.add(t)
            jqids.add(q)
        searcher = self.searcher()
        if self.fields == "multifield":
            hash_map, jfloat = java.autoclass("java.util.HashMap"), java.autoclass("java.lang.Float")
            boosts = hash_map()
            boosts.put("contents", jfloat(1.0))
            boosts.put("title", jfloat(1.0))
            results = searcher.batch_search_fields(jtexts, jqids, int(k), int(self.threads), boosts)
        else:
            results = searcher.batch_search(jtexts, jqids, int(k), int(self.threads))
        return {entry.getKey(): entry.getValue() for entry in results.entrySet().toArray()}

    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:
        searcher = self.searcher()   # configures and starts the JVM before jnius is imported
        from jnius import JavaException

        k = max(1, min(int(k), int(searcher.get_total_num_docs())))   # Lucene allocates k hits up front
        self._allow_long_queries(texts)
        try:
            hits = self._run_batch(texts, qids, k)
        except JavaException:   # find the queries Lucene refuses, one by one, and name them
            failed = []
            for text, qid in zip(texts, qids):
                try:
                    self._run_batch([text], [qid], k)
                except JavaException as exc:
                    failed.append((qid, str(exc).strip().splitlines()[0] if str(exc).strip() else "?"))
            if not failed:
                raise
            raise InputError(f"Lucene could not search {len(failed)} of {len(qids)} queries, e.g. query "
                             f"{failed[0][0]!r}: {failed[0][1][:200]}", field="query") from None
        out_q, out_d, out_s = [], [], []
        for qid, found in hits.items():
            for hit in found:
                out_q.append(qid)
                out_d.append(hit.docid)
                out_s.append(hit.score)
        return pd.DataFrame({"qid": out_q, "docno": out_d, "score": pd.Series(out_s, dtype="float64")})

