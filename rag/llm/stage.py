"""Shared plumbing for stages that call an LLM (the ``rag.llm`` contract).

``llm`` is a spec for :func:`rag.llm.load_llm` (a name such as ``"qwen-0.5b"`` or a mapping) or an
LLM object; only its identity (the spec, or the object's ``name``) enters the cache key.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rag.core.errors import MissingDependencyError
from rag.core.stage import Stage


def resolve_llm(spec: Any) -> Any:
    """An LLM object from a spec (objects with ``generate`` pass through)."""
    if hasattr(spec, "generate"):
        return spec
    try:
        from rag.llm import load_llm
    except ImportError as exc:  # the LLM layer lives in rag/llm
        raise MissingDependencyError(f"rag.llm is not available ({exc}); pass an LLM object instead") from None
    return load_llm(spec)


def llm_identity(spec: Any) -> Any:
    if hasattr(spec, "generate"):
        return getattr(spec, "name", None) or type(spec).__name__
    return spec


class LLMStage(Stage):
    """Mixin for dataclass stages with an ``llm`` field; loads the model once, on first use."""

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if "llm" in cfg:
            cfg["llm"] = llm_identity(cfg["llm"])
        return cfg

    @property
    def client(self) -> Any:
        cached = self.__dict__.get("_client")
        if cached is None:
            cached = resolve_llm(self.llm)  # type: ignore[attr-defined]
            self.__dict__["_client"] = cached
        return cached

    def describe(self) -> str:
        text = super().describe()
        if dataclasses.is_dataclass(self) and not isinstance(getattr(self, "llm", None), (str, type(None))):
            text = text.replace(f"{self.name}(", f"{self.name}(llm={llm_identity(self.llm)!r}, ", 1)  # type: ignore
        return text
