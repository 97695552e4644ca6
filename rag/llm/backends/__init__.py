"""The LLM backends by name, in the one registry (:mod:`rag.core.registry`, kind ``llm``).

A class is built as ``cls.from_spec(model, **options)`` when it has that class method, else
``cls(model, **options)``; it follows the :class:`~rag.llm.base.LLM` protocol. :data:`BACKENDS` is a view
of the registry (name -> class); ``@register(name, "llm")`` (:func:`rag.core.registry.register`) adds one.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from rag.core.registry import lookup, names, unregister


class _Backends(Mapping[str, type]):
    """The registered LLM backends (a live view: looking one up imports only its module)."""

    def __getitem__(self, name: str) -> type:
        if name not in names("llm"):
            raise KeyError(name)
        return lookup(name, "llm")

    def __iter__(self) -> Iterator[str]:
        return iter(names("llm"))

    def __len__(self) -> int:
        return len(names("llm"))

    def pop(self, name: str) -> type:
        cls = self[name]
        unregister(name, "llm")
        return cls


BACKENDS = _Backends()


__all__ = ["BACKENDS"]
