"""Registered measures (TICK, MetaRanking, HREF, sampled LLM judges, ...) computed on a meta-evaluation table,
with the judge model each used, so ``ragif meta-eval --compute TICK`` can report their agreement with human labels."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from rag.evaluation.measures import parse_measure


def compute_measures(frame: pd.DataFrame, names: Sequence[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``frame`` with one column per measure (rows without a ``qid`` get their row number as one) and
    ``{measure: provenance}`` (the judge model, samples, ...)."""
    out = frame.copy()
    if "qid" not in out.columns:
        out["qid"] = [str(i) for i in range(len(out))]
    out["qid"] = out["qid"].astype(str)
    if "query" not in out.columns and "question" in out.columns:
        out["query"] = out["question"]
    info: dict[str, Any] = {}
    for name in names:
        measure = parse_measure(name)
        values = measure.per_query(out, None)
        out[name] = out["qid"].map(pd.Series(values.to_numpy(), index=values.index.astype(str)))
        details = getattr(measure, "provenance", None)
        info[name] = details() if callable(details) else {}
    return out, info
