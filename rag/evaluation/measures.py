"""Measures: ir-measures objects for rankings and ragif measures (answers, p-MRR, ...), parsed from names.

>>> from rag.evaluation.measures import parse_measure
>>> parse_measure("nDCG@10")
nDCG@10
"""
from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from rag.core.errors import InputError, did_you_mean

log = logging.getLogger(__name__)


@runtime_checkable
class Measure(Protocol):
    """A ragif measure: a name and per-query values computed from a results (or answers) table.

    ``per_query`` returns a Series indexed by ``qid``. Ranking measures read ``qrels``; answer
    measures (EM, F1, K-Precision, ...) read the table's own columns and ignore ``qrels``.
    """

    name: str

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series: ...


_CUSTOM: dict[str, Any] = {}
# measures defined in other modules, imported on first use: name -> "module:factory"
BUILTIN_MEASURES: dict[str, str] = {"p-MRR": "rag.evaluation.pmrr:_factory"}


def register_measure(name: str, factory: Any) -> None:
    """Make a ragif measure available by name in configs and :func:`parse_measure`.

    ``factory(spec)`` receives the full spec string (e.g. ``"p-MRR"`` or ``"K-Precision"``)."""
    _CUSTOM[name] = factory


_PLUGINS = ("rag.evaluation.answers.measures", "rag.adaptive.measures")  # modules that register measures when first needed


def _load_plugins() -> None:
    import importlib

    for module in _PLUGINS:
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def _custom_lookup(name: str) -> Any | None:
    if name not in _CUSTOM and name.split("@")[0] not in _CUSTOM:
        _load_plugins()
    if name in _CUSTOM:
        return _CUSTOM[name]
    base = name.split("@")[0]
    if base in _CUSTOM:
        return _CUSTOM[base]
    if base in BUILTIN_MEASURES:
        import importlib
        module, _, attr = BUILTIN_MEASURES[base].partition(":")
        return getattr(importlib.import_module(module), attr)
    return None


def parse_measure(spec: Any) -> Any:
    """An ir-measures measure (``"nDCG@10"``, ``"AP(rel=2)"``, TREC names such as ``"ndcg_cut_10"``) or a
    registered ragif measure; objects pass through."""
    if not isinstance(spec, str):
        return spec
    custom = _custom_lookup(spec)
    if custom is not None:
        return custom(spec)
    import ir_measures

    try:
        return ir_measures.parse_measure(spec)
    except Exception:
        try:
            return ir_measures.parse_trec_measure(spec)[0]
        except Exception:
            known = ["nDCG@10", "AP", "MAP", "R@100", "P@1", "RR@10", "Judged@10", *sorted(_CUSTOM)]
            raise InputError(f"unknown measure {spec!r}{did_you_mean(spec, known)}", field="measures") from None


def measure_name(measure: Any) -> str:
    return measure.name if isinstance(measure, Measure) else str(measure)


def _is_ir_measure(measure: Any) -> bool:
    return not isinstance(measure, Measure)
