"""LLM backends behind one small interface (see :mod:`rag.llm.base`), each call cached on disk.

>>> from rag.llm import load_llm
>>> llm = load_llm("qwen-0.5b")                              # offline GGUF, llama.cpp  # doctest: +SKIP
>>> llm.generate(["What is the capital of France? Answer briefly."])[0].text   # doctest: +SKIP
'Paris'
>>> llm.option_probs(["Is Paris in France? Answer yes or no."], ["yes", "no"])  # doctest: +SKIP
[{'yes': 0.97, 'no': 0.03}]

Specs: ``"qwen-0.5b"`` (default offline model), a path to a ``.gguf`` file, or a mapping
``{"backend": "llamacpp"|"openai"|"hf", "model": ..., ...}`` whose other keys go to the backend
(``threads``, ``n_ctx``, ``reuse_prefix``, ``base_url``, ``api_key_env``, ``timeout``, ``retries``,
``max_backoff``, ``concurrency``, ...; an unknown key is a :class:`~rag.core.errors.ConfigError`).
Backends are looked up in :data:`BACKENDS` (name -> class); ``@register(name, "llm")`` adds one.

Every answer is cached on disk by (model identity, chat, parameters) as soon as it arrives (:mod:`rag.llm.identity`:
the name, a GGUF's checksum, what a server serves); a reply that carries
no text raises :class:`EmptyReplyError` (after the backend's retries) and is never cached. Model names never
contain credentials (``base_url`` user-info is shown as ``***``).
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Mapping

from rag.core.errors import ConfigError, did_you_mean
from rag.core.secrets import redact_url
from rag.llm.accounting import usage
from rag.llm.backends import BACKENDS
from rag.llm.base import LLM, Generation, StreamingLLM, as_messages, renormalise
from rag.llm.cached import CachedLLM
from rag.llm.errors import EmptyReplyError, LLMServerError

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


def spec_identity(spec: Any) -> Any:
    """What of an LLM spec may be shown or recorded: the spec with credentials removed from ``base_url``
    (an LLM object is named by its ``name``, which backends keep free of secrets)."""
    if hasattr(spec, "generate"):
        return getattr(spec, "name", None) or type(spec).__name__
    if isinstance(spec, Mapping) and "base_url" in spec:
        return {**spec, "base_url": redact_url(str(spec["base_url"]))}
    return spec


def _build(spec: Any) -> LLM:
    if isinstance(spec, str):
        spec = {"backend": "llamacpp", "model": spec}
    if not isinstance(spec, Mapping) or "model" not in spec:
        raise ConfigError(f"an LLM spec is a model name, a .gguf path or a mapping with 'model', "
                          f"got {spec_identity(spec)!r}", field="llm")
    options = dict(spec)
    backend = options.pop("backend", "llamacpp")
    model = options.pop("model")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown LLM backend {backend!r}{did_you_mean(str(backend), BACKENDS)}; use one of "
                          f"{sorted(BACKENDS)}", field="llm.backend")
    cls = BACKENDS[backend]
    build = getattr(cls, "from_spec", cls)
    accepted = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        for option in options:
            if option not in accepted or option in ("self", "model", "model_path"):
                choices = [n for n in accepted if n not in ("self", "model", "model_path")]
                raise ConfigError(f"unknown option {option!r} for the {backend} LLM backend"
                                  f"{did_you_mean(option, choices)}; it takes {choices}", field=f"llm.{option}")
    return build(model, **options)


__all__ = ["LLM", "StreamingLLM", "CachedLLM", "Generation", "load_llm", "usage", "as_messages", "renormalise",
           "DEFAULT_LLM", "BACKENDS", "spec_identity", "LLMServerError", "EmptyReplyError"]
