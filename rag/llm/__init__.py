"""LLM backends behind one small interface (see :mod:`rag.llm.base`), each call cached on disk.

>>> from rag.llm import load_llm
>>> llm = load_llm("qwen-0.5b")                              # offline GGUF, llama.cpp  # doctest: +SKIP
>>> llm.generate(["What is the capital of France? Answer briefly."])[0].text   # doctest: +SKIP
'Paris'
>>> llm.option_probs(["Is Paris in France? Answer yes or no."], ["yes", "no"])  # doctest: +SKIP
[{'yes': 0.97, 'no': 0.03}]

Specs: ``"qwen-0.5b"`` (default offline model), a path to a ``.gguf`` file, or a mapping
``{"backend": "llamacpp"|"openai"|"hf", "model": ..., ...}`` whose other keys go to the backend
(``threads``, ``n_ctx``, ``base_url``, ``api_key_env``, ``timeout``, ``retries``, ``concurrency``, ...).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from rag.core.errors import ConfigError, did_you_mean
from rag.llm.base import LLM, CachedLLM, Generation, as_messages, renormalise, usage

BACKENDS = ("llamacpp", "openai", "hf")
DEFAULT_LLM = "qwen-0.5b"
_LOADED: dict[str, CachedLLM] = {}
_LOCK = threading.Lock()


def load_llm(spec: Any = DEFAULT_LLM) -> CachedLLM:
    """An LLM (cached per process: loading a model once is enough) wrapped in the disk cache."""
    if isinstance(spec, CachedLLM):
        return spec
    if hasattr(spec, "generate") and hasattr(spec, "option_probs") and hasattr(spec, "name"):
        return CachedLLM(spec)
    from rag.core.hashing import hash_config

    key = hash_config("llm-spec", spec)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = CachedLLM(_build(spec))
        return _LOADED[key]


def _build(spec: Any) -> Any:
    from rag.llm.models import GGUF_MODELS

    if isinstance(spec, str):
        spec = {"backend": "llamacpp", "model": spec}
    if not isinstance(spec, dict) or "model" not in spec:
        raise ConfigError(f"an LLM spec is a model name, a .gguf path or a mapping with 'model', got {spec!r}",
                          field="llm")
    options = dict(spec)
    backend = options.pop("backend", "llamacpp")
    model = options.pop("model")
    if backend == "llamacpp":
        from rag.llm.llamacpp import LlamaCppLLM

        if model in GGUF_MODELS:
            entry = GGUF_MODELS[model]
            options.setdefault("threads", int(os.environ.get("RAGIF_LLM_THREADS", "1")))
            return LlamaCppLLM(entry.path(), name=entry.name, **options)
        if Path(model).suffix == ".gguf" and Path(model).exists():
            return LlamaCppLLM(model, **options)
        raise ConfigError(f"unknown GGUF model {model!r}{did_you_mean(model, GGUF_MODELS)}; use one of "
                          f"{sorted(GGUF_MODELS)} or a path to a .gguf file", field="llm.model")
    if backend == "openai":
        from rag.llm.openai_compat import OpenAICompatibleLLM

        return OpenAICompatibleLLM(model, **options)
    if backend == "hf":
        from rag.llm.hf import HFCausalLM

        return HFCausalLM(model, **options)
    raise ConfigError(f"unknown LLM backend {backend!r}{did_you_mean(backend, BACKENDS)}; use one of {BACKENDS}",
                      field="llm.backend")


__all__ = ["LLM", "CachedLLM", "Generation", "load_llm", "usage", "as_messages", "renormalise", "DEFAULT_LLM"]
