"""Old module paths keep working for one release, with a :class:`DeprecationWarning`.

ragif 0.1 had every module directly under ``rag/``; 0.2 lays them out along the data flow. Importing an
old path (``import rag.qa``, ``from rag.pipeline import Stage``) gives the module at its new place (the
same module object, so classes and monkeypatching behave as before); the two modules that were split
(``rag.evaluate``, ``rag.config``) are served by a small module that looks names up in their parts.

>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     from rag.pipeline import Stage
>>> Stage.__module__
'rag.core.stage'
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any, Sequence

# old module -> new module (submodules of an old package follow it)
MOVED: dict[str, str] = {
    "rag.errors": "rag.core.errors",
    "rag.hashing": "rag.core.hashing",
    "rag.provenance": "rag.core.provenance",
    "rag.progress": "rag.core.progress",
    "rag.secrets": "rag.core.secrets",
    "rag.schema": "rag.core.schema",
    "rag.pipeline": "rag.core.stage",
    "rag.cache": "rag.core.cache",
    "rag.executor": "rag.core.executor",
    "rag.atomic": "rag.core.atomic",
    "rag.tables": "rag.report.tables",
    "rag.board": "rag.report.board",
    "rag.plots": "rag.report.plots",
    "rag.plot_cli": "rag.cli.plot",
    "rag.doctor": "rag.cli.doctor",
    "rag.pmrr": "rag.evaluation.pmrr",
    "rag.meta_eval": "rag.evaluation.meta_eval",
    "rag.metrics": "rag.evaluation.answers",
    "rag.qa": "rag.readers.reader",
    "rag.qa_prompts": "rag.readers.prompts",
    "rag.adaptive.llm_stage": "rag.llm.stage",
    "rag.adaptive.answerer": "rag.readers.reader",
    "rag.adaptive.evaluation": "rag.adaptive.outcomes",
    "rag.datasets.readers": "rag.datasets.io",
    "rag.grid": "rag.experiment.grid",
    "rerankers.curriculum": "rerankers.training.curriculum",
    "retrievers.fast_bm25": "retrievers.bm25.fast",
    "retrievers.bm25_index": "retrievers.bm25.index",
    "retrievers.bm25_search": "retrievers.bm25.search",
    "retrievers.analysis": "retrievers.bm25.analysis",
    "retrievers.porter": "retrievers.bm25.porter",
    "rag.reproduce": "rag.experiment.reproduce",
}
# old module -> the modules that now hold its names (first match wins), and renamed names
SPLIT: dict[str, tuple[Sequence[str], dict[str, tuple[str, str]]]] = {
    "rag.evaluate": (("rag.evaluation.measures", "rag.evaluation.scoring", "rag.evaluation.ranking",
                      "rag.evaluation.significance"),
                     {"PAIRED_SUFFIX": ("rag.core.schema", "CHANGED_SUFFIX")}),
    "rag.config": (("rag.core.config", "rag.experiment.config"), {}),
    "rag.registry": (("rag.core.registry", "rag.core.build"), {}),
    "rag.followir": (("retrievers.instruction_pair", "rag.evaluation.followir"), {}),
}


def new_name(old: str) -> str | None:
    """Where the module ``old`` lives now (None when it did not move)."""
    for source, target in MOVED.items():
        if old == source or old.startswith(source + "."):
            return target + old[len(source):]
    return None


class _SplitModule(types.ModuleType):
    """Looks names up in the modules that took over an old module's content."""

    def __init__(self, name: str, parts: Sequence[str], renamed: dict[str, tuple[str, str]]):
        super().__init__(name, f"Deprecated: moved to {', '.join(parts)}.")
        self._parts = tuple(parts)
        self._renamed = dict(renamed)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self._renamed:
            module, name = self._renamed[attr]
            return getattr(importlib.import_module(module), name)
        for part in self._parts:
            module = importlib.import_module(part)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str):
        self.old = old

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self.old in SPLIT:
            parts, renamed = SPLIT[self.old]
            _warn(self.old, " and ".join(parts))
            return _SplitModule(self.old, parts, renamed)
        target = new_name(self.old)
        assert target is not None
        _warn(self.old, target)
        return importlib.import_module(target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in ragif 0.3; import from {new}", DeprecationWarning,
                  stacklevel=4)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Serves the old module paths (only those: everything else is found as usual)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in SPLIT or new_name(fullname) is not None:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname))
        return None


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())  # before the path finder, so an old submodule is never loaded twice
