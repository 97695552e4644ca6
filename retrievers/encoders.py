"""Text encoders of the dense stage: the :class:`Encoder` protocol, per-model prompts, the encoder registry and
length-sorted chunked encoding.

An encoder turns texts into a float32 matrix (one row per text). The built-in runtimes are registry keys of
kind ``encoder`` (``torch``: the sentence-transformers model as is; ``torch-bf16``: the same under bfloat16
autocast; ``onnx-int8``: the int8 ONNX all-MiniLM-L6-v2); a new one is one file::

    @register("my-encoder", kind="encoder")
    @dataclass
    class MyEncoder:
        model: str = "..."
        device: str = "auto"
        max_length: int | None = None
        threads: int = 0
        def encode(self, texts, batch_size=32, normalize=True) -> np.ndarray: ...
        @property
        def dimension(self) -> int: ...
        def fingerprint(self) -> str: ...

and ``DenseRetriever(corpus, runtime="my-encoder")`` uses it. An encoder is constructed cheaply (a missing model
or package is reported then, weights load on first use) and pickles without its weights, so Ray workers rebuild it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from rag.core.errors import InputError
from rag.core.progress import progress
from rag.core.registry import lookup, names


@runtime_checkable
class Encoder(Protocol):
    """Texts -> float32 rows. ``dimension`` is the row length; ``fingerprint()`` names the weights and anything
    else that changes the vectors (the cache keys of embeddings contain it)."""

    max_length: int | None

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize: bool = True) -> np.ndarray: ...

    @property
    def dimension(self) -> int: ...

    def fingerprint(self) -> str: ...


def open_encoder(runtime: str, model: str, device: str = "auto", max_length: int | None = None,
                 threads: int = 0) -> Encoder:
    """The encoder registered as ``runtime`` for ``model`` (an unknown runtime or model fails here, before any work)."""
    if not isinstance(runtime, str) or runtime not in names("encoder"):
        raise InputError(f"runtime must be one of {names('encoder')} (encoders registered with "
                         f"register(name, kind='encoder')), got {runtime!r}", field="runtime")
    factory = lookup(runtime, "encoder")
    try:
        encoder = factory(model=model, device=device, max_length=max_length, threads=threads)
    except TypeError as exc:
        raise InputError(f"encoder {runtime!r} cannot be built with model, device, max_length and threads: {exc}",
                         field="runtime") from None
    if not isinstance(encoder, Encoder):
        raise InputError(f"encoder {runtime!r} ({type(encoder).__name__}) lacks encode/dimension/fingerprint",
                         field="runtime")
    return encoder


# ---------------------------------------------------------------------------------- prompts
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


# ---------------------------------------------------------------------------------- encoding
def encode(encoder: Encoder, texts: Sequence[str], batch_size: int = 32, normalize: bool = True,
           desc: str | None = "encoding", chunk: int | None = None) -> np.ndarray:
    """Embed ``texts`` as float32 rows in input order.

    Texts are sorted by length (longest first) so each batch pads little, encoded chunk by chunk (under a
    progress bar when ``desc`` is given), and put back in input order.
    """
    n = len(texts)
    out = np.zeros((n, encoder.dimension), dtype=np.float32)
    if n == 0:
        return out
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunk = chunk or batch_size * 8
    starts: Any = range(0, n, chunk)
    if desc and len(starts) > 1:
        starts = progress(starts, total=len(starts), desc=desc, unit=f"x{chunk}")
    for start in starts:
        idx = order[start:start + chunk]
        vectors = encoder.encode([texts[i] for i in idx], batch_size=batch_size, normalize=normalize)
        out[idx] = np.asarray(vectors, dtype=np.float32)
    return out


@dataclass(frozen=True)
class PassageEncoding:
    """What a worker needs to embed a piece of passages: the encoder (pickled without weights) and options.
    Called with a list of texts, it returns their float32 rows (as :func:`encode`)."""

    encoder: Encoder
    batch_size: int = 32
    normalize: bool = True

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return encode(self.encoder, texts, self.batch_size, self.normalize, desc=None)


__all__ = ["Encoder", "PassageEncoding", "Prompts", "MODEL_PROMPTS", "encode", "open_encoder", "prompts_for"]
