"""Per-question values of every measure for one system, and why a measure does not apply where it does not.

A system's output is a ranking (a retriever, a reranker) or an answers table (a reader, a router); an
answering system also carries the ranking that fed its reader (the last ranking its pipeline produced).
Ranking measures read that ranking, answer measures the answers, cost measures either. A measure that
does not apply to a system gives no value at all (not zero) and a note saying why; a question a measure
cannot score (K-Precision of an answer given without passages) is NaN, counted in a note.
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from rag.core.schema import is_ranking
from rag.evaluation.measures import ANSWER_KINDS, RANKING_KINDS
from rag.evaluation.ranking import RankingMeasure, compute

NO_RANKING = "no ranking: the system retrieves nothing (closed-book)"
NO_QRELS = "the dataset has no relevance judgements for this split"
NO_ANSWERS = "no answers: the system only retrieves"
NO_PASSAGES = "no passage was in any prompt (closed-book)"


def _kind(measure: Any) -> str:
    return getattr(measure, "kind", "custom")


def _missing_reason(measure: Any) -> str:
    return getattr(measure, "missing_reason", "not applicable")


def system_values(output: pd.DataFrame, ranking: pd.DataFrame | None, questions: Sequence[str],
                  qrels: pd.DataFrame | None, measures: Sequence[Any]) -> tuple[pd.DataFrame, dict[str, str]]:
    """``qid, measure, value`` rows and ``{measure: note}`` for one system.

    ``questions`` are the experiment's question ids: answer and cost measures have one row per question
    (NaN where a question got no value); ranking measures one per judged question (trec_eval's set).
    """
    wanted = [str(q) for q in questions]
    frames: list[pd.DataFrame] = []
    notes: dict[str, str] = {}
    is_answers = "answer" in output.columns
    ranked = [m for m in measures if isinstance(m, RankingMeasure)]
    if ranked:
        if ranking is None:
            notes.update({m.name: NO_RANKING for m in ranked})
        elif qrels is None:
            notes.update({m.name: NO_QRELS for m in ranked})
        else:
            judged = qrels[qrels["qid"].astype(str).isin(set(wanted))]
            frames.append(compute(ranked, ranking, judged, warn=True))
    for m in measures:
        if isinstance(m, RankingMeasure):
            continue
        kind = _kind(m)
        if kind in RANKING_KINDS:
            if ranking is None:
                notes[m.name] = NO_RANKING
                continue
            series = m.per_query(ranking, qrels)
        elif kind in ANSWER_KINDS:
            if not is_answers:
                notes[m.name] = NO_ANSWERS
                continue
            series = m.per_query(output, qrels)
        elif kind == "cost" and getattr(m, "name", "") == "RetrievalRate" and "retrieved" not in output.columns:
            notes[m.name] = "no reader or router: nothing decides whether to retrieve"
            continue
        else:
            series = m.per_query(output, qrels)
        series = pd.Series(series.to_numpy(dtype="float64"), index=series.index.astype(str))
        series = series[~series.index.duplicated()]
        if kind == "cost":   # a question without output rows cost nothing
            values = series.reindex(wanted).fillna(0.0)
        elif kind in RANKING_KINDS:
            values = series[series.index.isin(set(wanted))]
        else:
            values = series.reindex(wanted)
        missing = int(values.isna().sum())
        if len(values) and missing == len(values):
            notes[m.name] = NO_PASSAGES if kind == "faithfulness" else f"no question could be scored ({_missing_reason(m)})"
            continue
        if missing:
            absent = len(set(wanted) - set(series.index)) if is_answers or kind not in RANKING_KINDS else 0
            reason = "no answer row" if absent == missing else _missing_reason(m)
            notes[m.name] = f"{missing} of {len(values)} questions not scored: {reason}"
        frames.append(pd.DataFrame({"qid": values.index.astype(str), "measure": m.name,
                                    "value": values.to_numpy(dtype="float64")}))
    if not frames:
        return pd.DataFrame({"qid": pd.Series(dtype=str), "measure": pd.Series(dtype=str),
                             "value": pd.Series(dtype="float64")}), notes
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["measure", "qid"], kind="mergesort").reset_index(drop=True), notes


def fed_ranking(output: pd.DataFrame, seen: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame | None:
    """The ranking a system is judged on: its output when that is a ranking, else the last ranking its
    pipeline produced (what fed the reader), else None (closed-book)."""
    if is_ranking(output):
        return output
    return seen[-1][1] if seen else None
