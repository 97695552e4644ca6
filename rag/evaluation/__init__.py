"""Evaluation: measures (ranking, answers, cost, p-MRR), per-query values, significance, meta-evaluation.

>>> from rag.evaluation import evaluate, parse_measure
>>> parse_measure("nDCG@10").name
'nDCG@10'
"""
from __future__ import annotations

import functools
from pathlib import Path

from rag.evaluation.measures import (
           Measure,
           measure_direction,
           measure_identity,
           measure_kind,
           measure_name,
           parse_measure,
           register_measure,
)
from rag.evaluation.ranking import RankingMeasure
from rag.evaluation.scoring import aggregate, evaluate, measure_values, per_query
from rag.evaluation.significance import correct, paired_test, significance



@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the evaluation code: cached per-query values are recomputed when a measure's code changes."""
    from rag.core.hashing import hash_bytes

    root = Path(__file__).parent
    return hash_bytes(b"".join(p.read_bytes() for p in sorted(root.rglob("*.py"))))


__all__ = ["code_version", "Measure", "RankingMeasure", "parse_measure", "measure_name", "measure_kind",
           "measure_direction", "measure_identity", "register_measure", "measure_values", "per_query", "aggregate",
           "evaluate", "significance", "paired_test", "correct"]
