"""Per-query values of any mix of measures on one system's output: the one evaluation path, used by
:func:`evaluate` / :func:`per_query` (``rag.evaluate``, ``ragif eval``) and by ``Experiment``.

>>> from rag.evaluation import evaluate
>>> evaluate(results, qrels, ["nDCG@10", "R@100"])            # doctest: +SKIP
{'nDCG@10': 0.6789, 'R@100': 0.9253}

The rules, per kind of measure (:data:`~rag.evaluation.measures.KINDS`):

- ranking measures read ``ranking`` (the output itself when it is a ranking; for an answering system, the
  ranking that fed its reader) and are computed for every judged question (restricted to ``questions``
  when given); a judged question without results scores 0 (``trec_eval -c``). A question the system did not
  retrieve for (not in ``retrieved_for``, e.g. one a router answered closed-book) is empty (NaN), not 0;
- answer measures read an answers table: one value per question, NaN where a question has no answer row
  or the measure cannot score it (K-Precision of an answer given without passages);
- cost measures read either; a question without a row of a ranking cost nothing (0), a question without
  an answer row is not scored (NaN);
- measures of no declared kind are computed on the output.

A measure that does not apply to the system at all (a ranking measure of a closed-book system, an answer
measure of a retriever) has no values and a note saying why; :func:`per_query` raises instead.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import is_ranking
from rag.evaluation.measures import ANSWER_KINDS, RANKING_KINDS, parse_measure
from rag.evaluation.ranking import RankingMeasure, compute

NO_RANKING = "no ranking: the system retrieves nothing (closed-book)"
NO_QRELS = "the dataset has no relevance judgements for this split"
NO_ANSWERS = "no answers: the system only retrieves"
NO_PASSAGES = "no passage was in any prompt (closed-book)"
NOT_RETRIEVED = "answered without retrieval (closed-book)"
NEEDED_COLUMN = {"retrieved": "no reader or router: nothing decides whether to retrieve"}
COLUMNS = ("qid", "measure", "value")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"qid": pd.Series(dtype=object), "measure": pd.Series(dtype=object),
                         "value": pd.Series(dtype="float64")})


def _long(name: str, values: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"qid": values.index.astype(str).to_numpy(dtype=object), "measure": name,
                         "value": values.to_numpy(dtype="float64")})


def _partial_note(values: pd.Series, absent: int, reason: str, not_retrieved: int = 0) -> str | None:
    missing = int(values.isna().sum())
    if not missing:
        return None
    if not_retrieved == missing:
        reason = NOT_RETRIEVED
    elif absent == missing:
        reason = "no answer row"
    return f"{missing} of {len(values)} questions not scored: {reason}"


def measure_values(output: pd.DataFrame, qrels: pd.DataFrame | None, measures: Iterable[Any],
                   questions: Iterable[str] | None = None, ranking: pd.DataFrame | None = None,
                   retrieved_for: Iterable[str] | None = None,
                   strict: bool = False) -> tuple[pd.DataFrame, dict[str, str]]:
    """``qid, measure, value`` rows and ``{measure: note}`` (why a measure has no or fewer values) for one
    system's ``output``, by the rules of this module's docstring.

    ``questions``: the question ids evaluated (default: the judged ones for ranking measures, the output's
    for the others); ``ranking``: what ranking measures read (default: ``output`` when it is a ranking);
    ``retrieved_for``: the questions the system retrieved for (default: all). ``strict``: raise
    :class:`InputError` when a measure does not apply at all, instead of a note.
    """
    parsed = [parse_measure(m) for m in measures]
    if not parsed:
        raise InputError("no measures to compute", field="measures")
    if ranking is None and is_ranking(output):
        ranking = output
    wanted = [str(q) for q in questions] if questions is not None else None
    wanted_set = set(wanted) if wanted is not None else None
    asked = set(map(str, retrieved_for)) if retrieved_for is not None else None
    is_answers = "answer" in output.columns
    frames: list[pd.DataFrame] = []
    notes: dict[str, str] = {}

    def refuse(measure: Any, note: str) -> None:
        if strict:
            raise InputError(f"{measure.name}: {note}", field="measures")
        notes[measure.name] = note

    ranked = [m for m in parsed if isinstance(m, RankingMeasure)]
    if ranked:
        if (ranking is None or qrels is None) and not strict:
            notes.update({m.name: NO_RANKING if ranking is None else NO_QRELS for m in ranked})
        else:   # strict: compute() names what is missing (qrels, or the ranking's columns)
            judged = qrels if qrels is None or wanted_set is None else qrels[qrels["qid"].astype(str).isin(wanted_set)]
            values = compute(ranked, ranking if ranking is not None else output, judged, warn=True)
            if asked is not None:
                outside = ~values["qid"].isin(asked).to_numpy()
                values.loc[outside, "value"] = np.nan
                for m in ranked:
                    column = values.loc[values["measure"] == m.name, "value"]
                    note = _partial_note(column, 0, NOT_RETRIEVED, int(outside[values["measure"] == m.name].sum()))
                    if note:
                        notes[m.name] = note
            frames.append(values)
    for m in parsed:
        if isinstance(m, RankingMeasure):
            continue
        kind = getattr(m, "kind", "custom")
        table = output
        if kind in RANKING_KINDS:
            if ranking is None:
                refuse(m, NO_RANKING)
                continue
            table = ranking
        elif kind in ANSWER_KINDS and not is_answers:
            refuse(m, NO_ANSWERS)
            continue
        needed = [c for c in getattr(m, "needs", ()) if c not in table.columns]
        if needed:
            refuse(m, NEEDED_COLUMN.get(needed[0], f"the output has no {needed[0]!r} column"))
            continue
        series = m.per_query(table, qrels)
        series = pd.Series(series.to_numpy(dtype="float64"), index=series.index.astype(str))
        series = series[~series.index.duplicated()]
        absent = 0
        if kind in RANKING_KINDS:
            values = series[series.index.isin(wanted_set)] if wanted_set is not None else series
        elif wanted is not None:
            absent = len(wanted_set - set(series.index))
            values = series.reindex(wanted)
            if kind == "cost" and not is_answers:   # a question the ranking has no row for cost nothing
                values = values.fillna(0.0)
                absent = 0
        else:
            values = series
        not_retrieved = 0
        if asked is not None and kind in RANKING_KINDS:
            outside = ~values.index.isin(asked)
            not_retrieved = int((outside & values.notna().to_numpy()).sum())
            values = values.where(~outside)
        if len(values) and values.isna().all() and not strict:   # strict: NaN rows, a NaN mean
            notes[m.name] = NO_PASSAGES if kind == "faithfulness" else \
                f"no question could be scored ({getattr(m, 'missing_reason', 'not applicable')})"
            continue
        note = _partial_note(values, absent, getattr(m, "missing_reason", "not applicable"), not_retrieved)
        if note:
            notes[m.name] = note
        frames.append(_long(m.name, values))
    if not frames:
        return _empty(), notes
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["measure", "qid"], kind="mergesort").reset_index(drop=True), notes


def per_query(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Iterable[Any],
              qids: Iterable[str] | None = None, ranking: pd.DataFrame | None = None,
              retrieved_for: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-query values as a long table ``qid, measure, value`` (:func:`measure_values`, strict).

    ``qids``: the questions evaluated; ``ranking``: the ranking that fed an answers table (for its ranking
    measures); ``retrieved_for``: the questions the system retrieved for (ranking measures are empty for
    the others)."""
    return measure_values(results, qrels, measures, qids, ranking, retrieved_for, strict=True)[0]


def aggregate(per_query_values: pd.DataFrame) -> dict[str, float]:
    """Mean over the questions each measure applies to (NaN values are left out)."""
    return per_query_values.groupby("measure", sort=False)["value"].mean().to_dict()


def evaluate(results: pd.DataFrame, qrels: pd.DataFrame | None, measures: Sequence[Any],
             qids: Iterable[str] | None = None, ranking: pd.DataFrame | None = None,
             retrieved_for: Iterable[str] | None = None) -> dict[str, float]:
    """Aggregate values of ``measures`` in the order given (see :func:`per_query`)."""
    parsed = [parse_measure(m) for m in measures]
    values = aggregate(per_query(results, qrels, parsed, qids, ranking, retrieved_for))
    return {m.name: values.get(m.name, float("nan")) for m in parsed}
