"""Sentence-transformers bi-encoders: per-model prompts and batched encoding (models are resolved to offline
weights by :mod:`rag.models`)."""
from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from rag.core.errors import InputError, MissingDependencyError
from rag.core.progress import progress
from rag.models import (ALIASES, MINILM, MPNET, MPNET_PARTS, minilm_path, model_fingerprint,  # noqa: F401
                        mpnet_part_files, mpnet_path, resolve_device, resolve_model)

log = logging.getLogger(__name__)

# model resolution, fingerprints and devices live in rag.models (names kept here for 0.1 imports)
pick_device = resolve_device

# How a dense stage runs its model: `torch` exact; the two others are opt-in speed-ups with their own cache keys.
BACKENDS = ("torch", "torch-bf16", "onnx-int8")


@dataclass(frozen=True)
class Prompts:
    """How a model wants its inputs: prefixes for queries and passages, and an instruction template."""

    query: str = ""
    passage: str = ""
    instruction: str = "append"   # a mode of retrievers.instructions used when instruction="model"


# Matched in order against the lower-cased model name; first match wins.
MODEL_PROMPTS: list[tuple[str, Prompts]] = [
    (r"e5-mistral|multilingual-e5-large-instruct",
     Prompts("", "", "Instruct: {instruction}\nQuery: {query}")),
    (r"(^|/)(multilingual-)?e5-", Prompts("query: ", "passage: ")),
    (r"bge-.*-en-v1\.5|bge-.*-en$", Prompts("Represent this sentence for searching relevant passages: ", "")),
    (r"gte-qwen|gritlm", Prompts("", "", "Instruct: {instruction}\nQuery: {query}")),
    (r"nomic-embed", Prompts("search_query: ", "search_document: ")),
]


def prompts_for(model: str) -> Prompts:
    """The prompts registered for ``model`` (no prefixes and ``append`` for unknown models)."""
    lowered = model.lower()
    for pattern, prompts in MODEL_PROMPTS:
        if re.search(pattern, lowered):
            return prompts
    return Prompts()


# ---------------------------------------------------------------------------------- loading, encoding
_LOADED: dict[tuple[str, str], object] = {}


def load_model(model: str, device: str = "auto", max_length: int | None = None):
    """A SentenceTransformer for ``model`` (kept per process)."""
    resolved = resolve_model(model)
    device = resolve_device(device)
    key = (resolved, device)
    if key not in _LOADED:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise MissingDependencyError("sentence-transformers", purpose="dense retrieval") from exc
        log.info("loading %s on %s", resolved, device)
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a bar for reading a local folder is noise
        try:
            _LOADED[key] = SentenceTransformer(resolved, device=device)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
    st = _LOADED[key]
    if max_length is not None:
        st.max_seq_length = int(max_length)
    return st


class Bfloat16Encoder:
    """A SentenceTransformer whose forward passes run under ``torch.autocast`` in bfloat16 (backend ``torch-bf16``).

    Matrix products run in bfloat16 with float32 accumulation (native on CPUs with AVX512-BF16 or AMX and on
    recent GPUs); the returned vectors are float32. Everything else is the wrapped model's.
    """

    def __init__(self, st):
        import torch
        self.st = st
        self.device_type = st.device.type
        native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
        if self.device_type == "cpu" and not native():
            log.warning("this CPU has no native bfloat16 arithmetic: backend 'torch-bf16' will be slower than 'torch'")

    def __getattr__(self, name: str):
        if name == "st":   # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.st, name)

    def encode(self, texts: Sequence[str], **options) -> np.ndarray:
        import torch
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            vectors = self.st.encode(texts, **options)
        return np.asarray(vectors, dtype=np.float32)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (None: leave as is)."""
    if not threads:
        yield
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode(st, texts: Sequence[str], batch_size: int = 32, normalize: bool = True, threads: int | None = None,
           desc: str = "encoding", chunk: int | None = None) -> np.ndarray:
    """Embed ``texts`` as float32 rows in input order.

    Texts are sorted by length (longest first) so each batch pads little, encoded chunk by chunk under
    a progress bar, and put back in input order.
    """
    n = len(texts)
    dim = (getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)()
    out = np.zeros((n, dim), dtype=np.float32)
    if n == 0:
        return out
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunk = chunk or batch_size * 8
    starts = range(0, n, chunk)
    with torch_threads(threads):
        for start in progress(starts, total=len(starts), desc=desc, unit=f"x{chunk}"):
            idx = order[start:start + chunk]
            vectors = st.encode([texts[i] for i in idx], batch_size=batch_size, show_progress_bar=False,
                                convert_to_numpy=True, normalize_embeddings=normalize)
            out[idx] = vectors.astype(np.float32, copy=False)
    return out


def write_embeddings(folder: Path, docnos: Sequence[str], vectors: np.ndarray, meta: dict) -> None:
    np.save(folder / "embeddings.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    (folder / "docnos.txt").write_text("\n".join(docnos) + "\n", encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1), encoding="utf-8")


def read_embeddings(folder: Path) -> tuple[list[str], np.ndarray]:
    """Document ids and their embeddings (memory-mapped, read-only)."""
    docnos = (folder / "docnos.txt").read_text("utf-8").split("\n")[:-1]
    vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
    if len(docnos) != vectors.shape[0]:
        raise InputError(f"{len(docnos)} ids for {vectors.shape[0]} embeddings: the cache entry is damaged",
                         path=folder)
    return docnos, vectors
