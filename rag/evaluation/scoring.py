"""Per-query values and aggregates of any mix of measures on one results (or answers) table.

>>> from rag.evaluation import evaluate
>>> evaluate(results, qrels, ["nDCG@10", "R@100"])            # doctest: +SKIP
{'nDCG@10': 0.6789, 'R@100': 0.9253}
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import pandas as pd

from rag.core.errors import InputError
from rag.evaluation.measures import parse_measure
from rag.evaluation.ranking import RankingMeasure, compute


def per_query(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Iterable[Any],
              qids: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-query values as a long table ``qid, measure, value``.

    Ranking measures are computed for the queries that have judgements (restricted to ``qids`` when
    given); a judged query with no results scores 0 (as ``trec_eval -c``), never silently dropped.
    Other measures give a value per question of the table (NaN where they do not apply).
    """
    parsed = [parse_measure(m) for m in measures]
    if not parsed:
        raise InputError("no measures to compute", field="measures")
    wanted = set(map(str, qids)) if qids is not None else None
    frames = []
    ranking = [m for m in parsed if isinstance(m, RankingMeasure)]
    if ranking:
        judged = qrels if qrels is None or wanted is None else qrels[qrels["qid"].isin(wanted)]
        frames.append(compute(ranking, results, judged, warn=True))
    for m in parsed:
        if isinstance(m, RankingMeasure):
            continue
        series = m.per_query(results, qrels)
        if wanted is not None:
            series = series[series.index.astype(str).isin(wanted)]
        frames.append(pd.DataFrame({"qid": series.index.astype(str), "measure": m.name,
                                    "value": series.to_numpy(dtype="float64")}))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["measure", "qid"], kind="mergesort").reset_index(drop=True)


def aggregate(per_query_values: pd.DataFrame) -> dict[str, float]:
    """Mean over the questions each measure applies to (NaN values are left out)."""
    return per_query_values.groupby("measure", sort=False)["value"].mean().to_dict()


def evaluate(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Sequence[Any],
             qids: Iterable[str] | None = None) -> dict[str, float]:
    """Aggregate values of ``measures`` in the order given."""
    parsed = [parse_measure(m) for m in measures]
    values = aggregate(per_query(results, qrels, parsed, qids))
    return {m.name: values.get(m.name, float("nan")) for m in parsed}
