"""Which ranking an answering system is judged on, and which questions it retrieved for.

A system's output is a ranking (a retriever, a reranker) or an answers table (a reader, a router); an
answering system also carries the ranking that fed its reader (the last ranking its pipeline produced).
The per-query values themselves come from the one evaluation path, :func:`rag.evaluation.scoring.measure_values`.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from rag.core.schema import is_ranking

Trace = Sequence[tuple[str, pd.DataFrame, "pd.Series | None"]]


def fed_ranking(output: pd.DataFrame, seen: Trace) -> tuple[pd.DataFrame | None, set[str] | None]:
    """The ranking a system is judged on and the questions it retrieved for (None: every question).

    The ranking is the system's output when that is a ranking, else the last ranking its pipeline produced
    (what fed the reader), else None (closed-book). The questions retrieved for are those given to the
    first-stage retriever of that ranking's chain (a router sends only some questions to it); a question
    given to it that got no document still counts (it scores 0, as in ``trec_eval -c``)."""
    if is_ranking(output):
        return output, None
    if not seen:
        return None, None
    ranking = seen[-1][1]
    for entry in reversed(seen):
        asked = entry[2] if len(entry) > 2 else None
        if asked is not None:
            questions = set(asked.astype(str).unique())
            answered = set(output["qid"].astype(str).unique()) if "qid" in output.columns else set()
            return ranking, None if answered <= questions else questions
    return ranking, None
