"""ragif: retrieval-augmented QA and instruction-following IR experiments.

The public API is imported lazily, so ``import rag`` stays fast (no torch, no JVM):

>>> import rag
>>> dataset = rag.load_dataset("demo")
>>> bm25 = rag.component("bm25", corpus=dataset.corpus)       # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

from rag.core.version import __version__

_LAZY = {
    "Stage": "rag.core.stage",
    "Pipeline": "rag.core.stage",
    "RankCutoff": "rag.core.stage",
    "Cache": "rag.core.cache",
    "Dataset": "rag.datasets",
    "Corpus": "rag.datasets",
    "load_dataset": "rag.datasets",
    "Experiment": "rag.experiment",
    "ExperimentResults": "rag.experiment",
    "evaluate": "rag.evaluation",
    "component": "rag.core.build",
    "register": "rag.core.registry",
    "RagifError": "rag.core.errors",
    "InputError": "rag.core.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
