"""Evaluation: measures (ranking, answers, p-MRR), per-query values, significance, meta-evaluation.

>>> from rag.evaluation import evaluate, parse_measure
>>> str(parse_measure("nDCG@10"))
'nDCG@10'
"""
from __future__ import annotations

from rag.evaluation.measures import Measure, measure_name, parse_measure, register_measure
from rag.evaluation.ranking import aggregate, evaluate, per_query
from rag.evaluation.significance import correct, paired_test, significance

__all__ = ["Measure", "parse_measure", "measure_name", "register_measure", "per_query", "aggregate", "evaluate",
           "significance", "paired_test", "correct"]
