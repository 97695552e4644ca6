"""Ranking measures through ir-measures (pytrec_eval), and ragif measures, per query and aggregated.

>>> from rag.evaluation import evaluate
>>> evaluate(results, qrels, ["nDCG@10", "R@100"])            # doctest: +SKIP
{'nDCG@10': 0.6789, 'R@100': 0.9253}
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import CHANGED_SUFFIX
from rag.evaluation.measures import _is_ir_measure, measure_name, parse_measure

log = logging.getLogger(__name__)


def _nested(qids: pd.Series, docnos: pd.Series, values: pd.Series, cast: type) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for q, d, v in zip(qids.astype(str).tolist(), docnos.astype(str).tolist(), values.tolist()):
        inner = out.get(q)
        if inner is None:
            inner = out[q] = {}
        inner[d] = cast(v)
    return out


def _ir_per_query(results: pd.DataFrame, qrels: pd.DataFrame, measures: list[Any]) -> pd.DataFrame:
    import ir_measures

    run = _nested(results["qid"], results["docno"], results["score"], float)
    qr = _nested(qrels["qid"], qrels["docno"], qrels["label"], int)
    rows = [(m.query_id, str(m.measure), m.value) for m in ir_measures.iter_calc(measures, qr, run)]
    return pd.DataFrame(rows, columns=["qid", "measure", "value"])


def _warn_id_mismatch(results: pd.DataFrame, qrels: pd.DataFrame) -> None:
    """Say (with counts) when run and qrels ids do not line up: usually a sign of mismatched files."""
    run_qids = {q for q in results["qid"].astype(str) if not q.endswith(CHANGED_SUFFIX)}
    judged_qids = set(qrels["qid"].astype(str))
    unjudged = run_qids - judged_qids
    missing = judged_qids - run_qids
    if unjudged:
        log.warning("%d of %d queries in the run have no judgements and are not evaluated (e.g. %s)",
                    len(unjudged), len(run_qids), sorted(unjudged)[:3])
    if missing:
        log.warning("%d of %d judged queries have no results in the run and score 0 (e.g. %s)",
                    len(missing), len(judged_qids), sorted(missing)[:3])
    if run_qids and not run_qids & judged_qids:
        raise InputError(f"no query id of the run ({sorted(run_qids)[:3]}...) is in the qrels "
                         f"({sorted(judged_qids)[:3]}...): mismatched files?", field="qid")


def per_query(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Iterable[Any],
              qids: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-query values as a long table ``qid, measure, value``.

    Ranking measures are computed for the queries that have judgements (restricted to ``qids`` when
    given); a judged query with no results scores 0 (as ``trec_eval -c``), never silently dropped.
    """
    parsed = [parse_measure(m) for m in measures]
    if not parsed:
        raise InputError("no measures to compute", field="measures")
    frames = []
    ir = [m for m in parsed if _is_ir_measure(m)]
    if ir:
        if qrels is None:
            raise InputError(f"measures {[str(m) for m in ir]} need relevance judgements (qrels)")
        judged = qrels if qids is None else qrels[qrels["qid"].isin(set(qids))]
        _warn_id_mismatch(results, judged)
        values = _ir_per_query(results, judged, ir)
        expected = pd.MultiIndex.from_product([sorted(judged["qid"].unique()), [str(m) for m in ir]],
                                              names=["qid", "measure"])
        values = values.set_index(["qid", "measure"])["value"].reindex(expected, fill_value=0.0).reset_index()
        frames.append(values)
    for m in parsed:
        if _is_ir_measure(m):
            continue
        series = m.per_query(results, qrels)
        if qids is not None:
            series = series[series.index.isin(set(qids))]
        frames.append(pd.DataFrame({"qid": series.index.astype(str), "measure": m.name,
                                    "value": series.to_numpy(dtype="float64")}))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["measure", "qid"], kind="mergesort").reset_index(drop=True)


def aggregate(per_query_values: pd.DataFrame) -> dict[str, float]:
    """Mean over queries of each measure."""
    return per_query_values.groupby("measure", sort=False)["value"].mean().to_dict()


def evaluate(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Sequence[Any],
             qids: Iterable[str] | None = None) -> dict[str, float]:
    """Aggregate values of ``measures`` in the order given."""
    values = aggregate(per_query(results, qrels, measures, qids))
    return {measure_name(parse_measure(m)): values[measure_name(parse_measure(m))] for m in measures}
