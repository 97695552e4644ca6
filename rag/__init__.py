"""ragif: retrieval-augmented QA and instruction-following IR experiments.

The public API is imported lazily, so ``import rag`` stays fast (no torch, no JVM):

>>> import rag
>>> dataset = rag.load_dataset("demo")
>>> bm25 = rag.component("bm25", corpus=dataset.corpus)       # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Stage": "rag.pipeline",
    "Pipeline": "rag.pipeline",
    "RankCutoff": "rag.pipeline",
    "Cache": "rag.cache",
    "Dataset": "rag.datasets",
    "Corpus": "rag.datasets",
    "load_dataset": "rag.datasets",
    "Experiment": "rag.experiment",
    "ExperimentResults": "rag.experiment",
    "evaluate": "rag.evaluate",
    "component": "rag.registry",
    "register": "rag.registry",
    "RagifError": "rag.errors",
    "InputError": "rag.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
