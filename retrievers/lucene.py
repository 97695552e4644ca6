"""BM25 over Lucene (pyserini/Anserini): an index built in-process from any corpus and cached by content, or
an existing Anserini/Pyserini index searched as it is (``index=``: a folder or a Pyserini prebuilt name)."""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _encode
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from rag.core import java
from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.hashing import hash_config
from rag.core.progress import progress
from rag.datasets import Corpus
from rag.datasets.lucene_index import LuceneIndexCorpus
from retrievers.base import Retriever
from retrievers.parameters import check_bm25_parameters

log = logging.getLogger(__name__)

ANSERINI_JAR_VERSION = "anserini-1.7.1"
INDEX_LAYOUT = "collection-raw-1"   # ragif-built: Anserini IndexCollection over JSON lines, raw JSON stored
Fields = Literal["flat", "multifield"]


def lucene_record(doc: dict[str, str], fields: Fields = "flat") -> str:
    """A document as a line of Anserini's JsonCollection: ``contents`` is what is searched (title and text on
    two lines for ``flat``; the text alone for ``multifield``, whose ``title`` is a field of its own); the
    ``title`` key lets the stored raw JSON give title and text back apart. (The JSON is put together from
    encoded strings: what ``json.dumps`` gives, in half the time.)"""
    title, text = doc["title"], doc["text"]
    contents = (f"{title}\n{text}" if title else text) if fields == "flat" else text
    return (f'{{"id": {_encode(doc["docno"])}, "contents": {_encode(contents)}, "title": {_encode(title)}}}')


def build_index(corpus: Corpus, folder: Path, fields: Fields = "flat", threads: int = 2,
                store_text: bool = True) -> int:
    """Index ``corpus`` into ``folder/index`` with Anserini's default English analyzer, storing each document's
    raw JSON unless ``store_text`` is false (Pyserini's ``--storeRaw``), and return the number of documents
    sent.

    Anserini's ``IndexCollection`` - Pyserini's own indexer - reads the documents as a JsonCollection from
    ``threads`` named pipes in ``folder/collection`` with ``threads`` threads, while this thread turns the
    corpus into JSON lines and writes them to whichever pipe has room: one call into Java for the whole
    corpus (not one per document), no copy of the corpus on disk, and the conversion overlapping the
    indexing. ``flat``: title and text in one ``contents`` field (Pyserini's BEIR "flat" indexes);
    ``multifield``: ``title`` and ``contents`` as separate fields."""
    collection = folder / "collection"
    collection.mkdir(parents=True, exist_ok=True)
    pipes = [collection / f"part-{i:03d}.jsonl" for i in range(max(1, int(threads)))]
    for pipe in pipes:
        os.mkfifo(pipe)
    args = ["-collection", "JsonCollection", "-generator", "DefaultLuceneDocumentGenerator", "-input", str(collection),
            "-index", str(folder / "index"), "-threads", str(len(pipes)), "-quiet", *(["-storeRaw"] if store_text else [])]
    if fields == "multifield":
        args += ["-fields", "title"]
    indexer = JavaTask(lambda: java.autoclass("io.anserini.index.IndexCollection").main(args))
    count = 0
    feeder = PipeFeeder(pipes, indexer)
    try:
        batch: list[str] = []
        for doc in progress(iter(corpus), total=corpus.length_hint(), desc="Lucene indexing", unit="doc"):
            batch.append(lucene_record(doc, fields))
            count += 1
            if len(batch) == 128:
                feeder.send(("\n".join(batch) + "\n").encode("utf-8"))
                batch = []
        if batch:
            feeder.send(("\n".join(batch) + "\n").encode("utf-8"))
        feeder.close()
        indexer.wait()
    except KeyboardInterrupt:
        feeder.close(flush=False)   # Anserini sees the end of its input; the build folder is discarded
        raise
    except BaseException:
        feeder.close(flush=False)
        indexer.wait(quietly=True)  # finish with the truncated input before the folder goes away
        raise
    for pipe in pipes:
        pipe.unlink()
    collection.rmdir()
    return count


class JavaTask:
    """A long Java call on a thread of its own, so that Ctrl-C reaches Python at once (the JVM runs with
    ``-Xrs``)."""

    def __init__(self, call: Any):
        self.failure: BaseException | None = None

        def target() -> None:
            try:
                call()
            except BaseException as exc:   # re-raised on the waiting thread
                self.failure = exc
        self.thread = threading.Thread(target=target, name="lucene-indexing", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def wait(self, quietly: bool = False) -> None:
        while self.thread.is_alive():
            self.thread.join(timeout=0.2)
        if self.failure is not None and not quietly:
            raise self.failure


class PipeFeeder:
    """Feeds blocks of whole lines to named pipes that a Java task reads: one writer thread per pipe takes
    the next block from a shared queue (so the pipes drain at their reader's pace, whatever this thread is
    doing) and writes it with blocking writes into a pipe enlarged to 1 MiB where the system allows. A
    reader that stops is noticed: its failure is raised instead of a write that never ends."""

    PIPE_BYTES = 1 << 20

    def __init__(self, pipes: list[Path], reader: JavaTask, depth: int = 64):
        self.reader = reader
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.errors: list[BaseException] = []
        self.writers: list[threading.Thread] = []
        for pipe in pipes:
            fd = self._open(pipe)
            self.writers.append(threading.Thread(target=self._drain, args=(fd,), name="lucene-pipe", daemon=True))
            self.writers[-1].start()

    def _open(self, pipe: Path) -> int:
        while True:   # a pipe opens for writing once its reader has opened it
            try:
                fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                self._check_reader()
                time.sleep(0.01)
        os.set_blocking(fd, True)
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, self.PIPE_BYTES)
        except OSError:
            pass   # the system's limit is lower: the default size works, with more wake-ups
        return fd

    def _drain(self, fd: int) -> None:
        try:
            while (block := self.queue.get()) is not None:
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view):]
        except OSError as exc:   # the reader went away
            self.errors.append(exc)
        finally:
            os.close(fd)

    def _check_reader(self) -> None:
        if self.errors or not self.reader.alive():
            self.reader.wait()   # raises its failure, if any
            raise RuntimeError(f"Anserini stopped reading its input before the end ({self.errors[:1]})")

    def _put(self, item: bytes | None) -> None:
        while True:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._check_reader()

    def send(self, block: bytes) -> None:
        """Queue ``block`` (whole lines) for the next free pipe."""
        self._put(block)

    def close(self, flush: bool = True) -> None:
        """End every pipe (after what is queued, or at once with ``flush=False``), so that the reader sees
        the end of its input."""
        if not flush:   # drop what is queued; each writer ends after the block it is writing
            while True:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break
            for _ in self.writers:
                self.queue.put_nowait(None)
            return
        for _ in self.writers:
            self._put(None)
        for writer in self.writers:
            while writer.is_alive():
                writer.join(timeout=0.5)
                if writer.is_alive():
                    self._check_reader()


@dataclass(repr=False)
class LuceneBM25(Retriever):
    """BM25 retrieval with Lucene (Anserini 1.7 via pyserini 1.6).

    Defaults are Pyserini's (k1=0.9, b=0.4, title and text in one field), which give nDCG@10 0.6789 on
    BEIR SciFact. ``rerank=True`` scores only each query's given candidates (input ``docno``), keeping
    candidates without a matching term at score 0. The query's ``instruction`` (if any) joins its text
    as ``instruction`` says (see :mod:`retrievers.instructions`).

    ``index``: search an existing Lucene index instead of building one from the corpus - a folder
    (Anserini, Pyserini, ragif's own) or a Pyserini prebuilt index name (``wikipedia-dpr-100w``), found in
    ``$RAGIF_INDEXES`` or Pyserini's download folder and fetched only with ``download=True``. Its cache
    identity is the index's own commit (:func:`~rag.datasets.lucene_index.index_identity`); no corpus is
    read. A data set whose corpus is such an index (``dataset: {corpus: ...}``) is searched the same way.

    An index built from a corpus keeps each document's raw JSON (``store_text``, as Pyserini's
    ``--storeRaw``), so that the folder serves text on its own later (``index=`` it, no corpus file): about
    470 more bytes per ~90-word passage (596 against 125) and ~7% more indexing time, measured on 200k
    passages. ``store_text: false`` leaves the text out.
    """

    corpus: Corpus | None = None
    k1: float = 0.9
    b: float = 0.4
    fields: Fields = "flat"
    index: str | None = None        # an existing index: folder or Pyserini prebuilt name (no corpus needed)
    store_text: bool = field(default=True, metadata={"config": False})   # keep raw documents in a built index
    download: bool = field(default=False, metadata={"config": False})   # fetch a prebuilt index (needs its hub)
    threads: int = field(default=2, metadata={"config": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_bm25_parameters(self.k1, self.b, self.k, self.threads)
        if self.fields not in ("flat", "multifield"):
            raise InputError(f"fields must be 'flat' or 'multifield', got {self.fields!r}", field="fields")
        self._searcher = None
        self._existing: LuceneIndexCorpus | None = None
        if self.index is not None:
            self._existing = LuceneIndexCorpus(self.index, download=self.download)
        elif isinstance(self.corpus, LuceneIndexCorpus):
            self._existing = self.corpus
        elif self.corpus is None:
            raise InputError("bm25 needs a corpus (the data set's) or index= (an existing Lucene index)",
                             field="index")

    # ------------------------------------------------------------------ index
    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if self._existing is not None:   # an existing index is what it is, whatever path or name led to it
            cfg.pop("corpus", None)
            cfg["index"] = self._existing.fingerprint()
        return cfg

    def index_key(self) -> str:
        if self._existing is not None:
            return self._existing.fingerprint()
        return hash_config("lucene-index", ANSERINI_JAR_VERSION, INDEX_LAYOUT, self.corpus.fingerprint(), self.fields,
                           *(() if self.store_text else ("no-text",)))

    def index_path(self) -> Path:
        """The index folder: the existing one, or the cached one built from the corpus on first use."""
        if self._existing is not None:
            return self._existing.index.folder
        cache = Cache.active() or Cache()
        return cache.artifact("lucene-index", self.index_key(),
                              lambda tmp: build_index(self.corpus, tmp, self.fields, self.threads,
                                                      self.store_text)) / "index"

    def documents(self) -> Corpus:
        """The searched index's stored documents as a corpus (for ``AddText``, readers and judges when the
        data set has no corpus of its own)."""
        return self._existing if self._existing is not None else LuceneIndexCorpus(self.index_path())

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

    def score_candidates(self, queries: pd.DataFrame, texts: list[str], candidates: pd.DataFrame):
        hits = self.retrieve(texts, queries["qid"].astype(str).tolist(), int(self.searcher().get_total_num_docs()))
        scored = candidates[["qid", "docno"]].merge(hits, on=["qid", "docno"], how="left")
        return scored["score"].fillna(0.0).to_numpy(dtype="float64")

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
