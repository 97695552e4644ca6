"""What identifies an LLM's outputs, in cache keys (every call's, and every LLM stage's) and in provenance.

* a GGUF file: its sha256 (hashed once per path, size and modification time: :func:`rag.llm.gguf.file_sha256`)
  and the llama.cpp parameters that change outputs when they differ from the defaults (``n_ctx``, ``n_batch``,
  ``n_gpu_layers``, ``chat_template``); the thread count does not change them on this build (bit-identical
  logits at 1 and 2 threads), so it is recorded in provenance only. The offline models' names stand for their
  checksums, so their keys are their names;
* an OpenAI-compatible server: what it reports serving (:meth:`~rag.llm.backends.openai.OpenAICompatibleLLM.served`:
  its ``/v1/models`` entry, llama.cpp's model path and chat template), so that another model served under the
  same name is a cache miss. When the server cannot be reached, the last thing it reported is assumed (kept in
  the cache folder), so a cached re-run needs no server;
* anything else: its name (the Hugging Face backend: the model name or folder).

A backend says more than its name through ``identity()`` (a JSON-able mapping, or None when the name says it
all); :func:`backend_key` is what cache keys use: the name alone where nothing more is known, so existing cache
entries of the offline model stay valid.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from rag.core.hashing import hash_config

log = logging.getLogger(__name__)


def backend_key(backend: Any) -> Any:
    """The identity of a backend's outputs in cache keys: its name, with ``identity()`` where that says more."""
    name = getattr(backend, "name", None) or type(backend).__name__
    identify = getattr(backend, "identity", None)
    extra = identify() if callable(identify) else None
    return [name, extra] if extra else name


def llm_fingerprint(spec: Any) -> Any:
    """The identity of an LLM spec (or object) in a stage's cache key: what :func:`rag.llm.spec_identity`
    shows, plus what the backend reports (a GGUF's checksum, what a server serves) where that says more.
    A llama.cpp model is not loaded for this."""
    from rag.llm import BACKENDS, load_llm, spec_identity

    shown = spec_identity(spec)
    if hasattr(spec, "generate"):
        backend = getattr(spec, "backend", spec)
        key = backend_key(backend)
        return [shown, key[1]] if isinstance(key, list) else shown
    if isinstance(spec, str):
        spec = {"backend": "llamacpp", "model": spec}
    if not isinstance(spec, Mapping) or "model" not in spec or spec.get("backend", "llamacpp") not in BACKENDS:
        return shown            # load_llm reports what is wrong with it
    options = dict(spec)
    cls = BACKENDS[options.pop("backend", "llamacpp")]
    model = options.pop("model")
    identify = getattr(cls, "identity_of", None)
    if identify is not None:
        extra = identify(model, **options)
    elif callable(getattr(cls, "identity", None)):
        extra = load_llm(dict(spec)).backend.identity()   # cheap to build (an HTTP client, no weights)
    else:
        extra = None
    return [shown, extra] if extra else shown


def served_with_memo(name: str, answered: bool, served: Mapping[str, Any]) -> dict[str, Any]:
    """``served`` when the server answered (remembered in the cache folder under ``name``); when it could not
    be reached, what it reported last time (empty when never)."""
    from rag.core.atomic import atomic_write_text
    from rag.core.cache import Cache

    cache = Cache.active() or Cache()
    path = cache.root / "llm-servers" / f"{hash_config('llm-served-v1', name)}.json"
    if answered:
        try:
            atomic_write_text(path, json.dumps(dict(served), sort_keys=True))
        except OSError as exc:   # a read-only cache folder: the identity is still right for this run
            log.debug("cannot remember what %s serves (%s)", name, exc)
        return dict(served)
    try:
        remembered = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    log.info("LLM server %s cannot be reached; assuming it serves what it reported last time", name)
    return dict(remembered) if isinstance(remembered, dict) else {}
