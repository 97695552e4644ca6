"""The LLM backends by name: :data:`BACKENDS` maps a spec's ``backend`` to the class that runs it.

A class is built as ``cls.from_spec(model, **options)`` when it has that class method, else
``cls(model, **options)``; it follows the :class:`~rag.llm.base.LLM` protocol.
"""
from __future__ import annotations

from .hf import HFCausalLM
from .llamacpp import LlamaCppLLM
from .openai import OpenAICompatibleLLM

BACKENDS: dict[str, type] = {"llamacpp": LlamaCppLLM, "openai": OpenAICompatibleLLM, "hf": HFCausalLM}


def register_backend(name: str, cls: type) -> type:
    """Make ``cls`` available as ``{"backend": name, ...}`` (also usable as a class decorator's target)."""
    missing = [m for m in ("generate", "option_probs") if not callable(getattr(cls, m, None))]
    if missing:
        raise TypeError(f"an LLM backend needs {missing}; {cls.__name__} has not")
    BACKENDS[name] = cls
    return cls


__all__ = ["BACKENDS", "register_backend", "LlamaCppLLM", "OpenAICompatibleLLM", "HFCausalLM"]
