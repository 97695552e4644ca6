"""The models of the model-based answer measures (BERTScore, K-BERTScore, NLI): where they are, whether they
are there offline, and one loaded copy per process.

A model is a local folder, the packaged offline MiniLM (``None``), or a Hugging Face name that is already
in the local Hugging Face cache. Anything else fails at once with one line (:class:`ConfigError`): no
download is attempted, so there are no network retries and no raw ``OSError``.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable

from rag.core.errors import ConfigError, MissingDependencyError
from rag.models import MINILM as DEFAULT_ENCODER
from rag.models import is_minilm, locate_model, minilm_path

_LOADED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def resolve_model(model: str | None, purpose: str = "BERTScore") -> tuple[str, str]:
    """``(path_or_cached_hub_name, display_name)``; ``None`` or the MiniLM hub name -> the packaged copy.

    Raises :class:`ConfigError` naming what was looked for and where (:func:`rag.models.locate_model`)."""
    if model in (None, "") or is_minilm(model):
        try:
            return str(minilm_path()), DEFAULT_ENCODER
        except MissingDependencyError:
            if model == DEFAULT_ENCODER and _cached(model):
                return model, model
            raise
    return locate_model(str(model), purpose, hub=False), str(model)


def _cached(name: str) -> bool:
    """Whether the hub model ``name`` has its config in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id, an unreadable cache: not available
        return False
    return isinstance(found, str)


def load_once(kind: str, path: str, loader: Callable[[str], Any], display: str | None = None) -> Any:
    """``loader(path)`` the first time ``(kind, path)`` is asked for in this process, then the same object.

    Prints one line naming the model when it is loaded; loading errors become one-line :class:`ConfigError`."""
    key = (kind, path)
    with _LOCK:
        if key not in _LOADED:
            try:
                _LOADED[key] = loader(path)
            except OSError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"cannot load {kind} model {display or path!r}: {reason}", field="model") from None
            print(f"{kind}: model {display or path}" + (f" ({path})" if display and display != path else ""),
                  file=sys.stderr)
        return _LOADED[key]


def local_only() -> dict[str, bool]:
    """Keyword arguments that keep ``from_pretrained`` off the network."""
    return {"local_files_only": True}
