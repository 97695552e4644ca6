"""Ranking measures: ir-measures (pytrec_eval) measures with validated parameters, computed in one pass.

>>> RankingMeasure.parse("ndcg@10").name
'nDCG@10'
>>> RankingMeasure.parse("P@0")
Traceback (most recent call last):
...
rag.core.errors.InputError: field 'measures': measure 'P@0': the cut-off must be an integer from 1 to 1000000, got 0
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError, did_you_mean
from rag.core.schema import CHANGED_SUFFIX, check_ids, validate_qrels

log = logging.getLogger(__name__)

MAX_CUTOFF = 1_000_000   # larger than any run ragif writes; beyond it pytrec_eval's int overflows
_RANGES = {"p": (0.0, 1.0, False), "alpha": (0.0, 1.0, True)}   # name -> (low, high, closed)


def ir_measure_names() -> list[str]:
    """The measure families ir-measures knows (``nDCG``, ``AP``, ``RR``, ...)."""
    from ir_measures import measures

    return sorted(measures.registry)


def _family(name: str) -> str | None:
    """ir-measures' spelling of a family name, matched case-insensitively."""
    from ir_measures import measures

    if name in measures.registry:
        return name
    folded = {k.casefold(): k for k in measures.registry}
    return folded.get(name.casefold())


@dataclass(frozen=True)
class RankingMeasure:
    """An ir-measures measure (``nDCG@10``, ``AP(rel=2)``, ``RR@10``) with checked parameters."""

    measure: Any
    kind: ClassVar[str] = "ranking"
    better: ClassVar[str] = "higher"
    missing_reason: ClassVar[str] = "not judged"

    @property
    def name(self) -> str:
        return str(self.measure)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def wrap(cls, measure: Any, spec: str | None = None) -> "RankingMeasure":
        _validate(measure, spec or str(measure))
        return cls(measure)

    @classmethod
    def parse(cls, spec: str, family: str | None = None, params: str | None = None, cutoff: str | None = None,
              known_elsewhere: Sequence[str] = ()) -> "RankingMeasure":
        """Parse ``spec`` (family, parameters and cut-off already split out when given)."""
        import ir_measures

        if family is None:
            family, _, rest = spec.partition("@")
            cutoff = rest or None
            if "(" in family:
                family, _, params = family.partition("(")
                params = params.rstrip(")")
        name = _family(family.strip())
        if name is None:
            try:   # TREC names: ndcg_cut_10, map, recip_rank
                return cls.wrap(ir_measures.parse_trec_measure(spec.strip())[0], spec)
            except Exception:
                known = ["nDCG@10", "AP", "R@100", "P@10", "RR@10", *known_elsewhere]
                raise InputError(f"unknown measure {spec!r}{did_you_mean(spec, known)}", field="measures") from None
        if cutoff is not None:
            try:
                value = float(cutoff)
            except ValueError:
                value = None
            if value is None or value != int(value) or not 1 <= value <= MAX_CUTOFF:
                raise InputError(f"measure {spec!r}: the cut-off must be an integer from 1 to {MAX_CUTOFF}, got "
                                 f"{cutoff}", field="measures")
            cutoff = str(int(value))
        text = name + (f"({params})" if params else "") + (f"@{cutoff}" if cutoff else "")
        try:
            measure = ir_measures.parse_measure(text)
        except Exception as exc:
            supported = sorted(ir_measures.measures.registry[name].SUPPORTED_PARAMS)
            raise InputError(f"measure {spec!r}: {str(exc).splitlines()[0]} ({name} takes {supported})",
                             field="measures") from None
        return cls.wrap(measure, spec)

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series:
        values = compute([self], results, qrels)
        return values.set_index("qid")["value"].rename(self.name)


def _validate(measure: Any, spec: str) -> None:
    """Parameters pytrec_eval would abort on or silently misread: a clear error instead."""
    supported = getattr(measure, "SUPPORTED_PARAMS", {})
    for key, value in getattr(measure, "params", {}).items():
        if key not in supported:
            raise InputError(f"measure {spec!r}: unknown parameter {key!r}{did_you_mean(key, supported)}; "
                             f"{measure.NAME} takes {sorted(supported)}", field="measures")
        info = supported[key]
        if info.dtype in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"measure {spec!r}: {key} must be a number, got {value!r}", field="measures")
        if key == "cutoff" and (value != int(value) or not 1 <= value <= MAX_CUTOFF):
            raise InputError(f"measure {spec!r}: the cut-off must be an integer from 1 to {MAX_CUTOFF}, got {value}",
                             field="measures")
        if key in ("rel", "min_rel") and (value != int(value) or value < 1 and key == "rel"):
            raise InputError(f"measure {spec!r}: {key} (the lowest relevant label) must be a positive integer, "
                             f"got {value}", field="measures")
        if key in _RANGES:
            low, high, closed = _RANGES[key]
            inside = low <= value <= high if closed else low < value < high
            if not inside:
                raise InputError(f"measure {spec!r}: {key} must be in {'[' if closed else '('}{low}, {high}"
                                 f"{']' if closed else ')'}, got {value}", field="measures")
        choices = getattr(info, "choices", None)
        if isinstance(choices, (list, tuple)) and value not in choices:
            raise InputError(f"measure {spec!r}: {key} must be one of {list(choices)}, got {value!r}",
                             field="measures")


def _nested(qids: pd.Series, docnos: pd.Series, values: pd.Series, cast: type) -> dict[str, dict[str, Any]]:
    """``{qid: {docno: value}}`` (pytrec_eval's input) built a query at a time: the rows are grouped by integer
    codes and each query's dict made by ``dict(zip(...))`` (the last row wins for a repeated pair)."""
    codes, uniques = pd.factorize(qids)
    if not len(codes):
        return {}
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1, len(order)]
    docs = docnos.to_numpy(dtype=object)[order].tolist()
    numbers = values.to_numpy()[order].astype(np.float64 if cast is float else np.int64).tolist()
    names = [str(q) for q in uniques[sorted_codes[bounds[:-1]]]]
    return {q: dict(zip(docs[a:b], numbers[a:b])) for q, a, b in zip(names, bounds[:-1].tolist(), bounds[1:].tolist())}


def warn_id_mismatch(results: pd.DataFrame, qrels: pd.DataFrame) -> None:
    """Say (with counts) when run and qrels ids do not line up: usually a sign of mismatched files."""
    run_qids = {q for q in map(str, pd.unique(results["qid"])) if not q.endswith(CHANGED_SUFFIX)}
    judged_qids = set(map(str, pd.unique(qrels["qid"])))
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


_EVALUATORS: "OrderedDict[str, Any]" = OrderedDict()   # (qrels content, measures) -> ir-measures evaluator


def _evaluator(measures: Sequence[RankingMeasure], qrels: pd.DataFrame) -> Any:
    """One ir-measures evaluator per qrels and measure set, kept for the next run (an experiment evaluates
    every system against the same qrels): pytrec_eval parses the judgements once."""
    import ir_measures

    from rag.core.hashing import hash_config, hash_frame

    key = hash_config("evaluator", hash_frame(qrels), [m.name for m in measures])
    evaluator = _EVALUATORS.get(key)
    if evaluator is None:
        judged = _nested(qrels["qid"], qrels["docno"], qrels["label"], int)
        evaluator = ir_measures.evaluator([m.measure for m in measures], judged)
        _EVALUATORS[key] = evaluator
        while len(_EVALUATORS) > 4:
            _EVALUATORS.popitem(last=False)
    _EVALUATORS.move_to_end(key)
    return evaluator


def compute(measures: Sequence[RankingMeasure], results: pd.DataFrame, qrels: pd.DataFrame | None,
            warn: bool = False) -> pd.DataFrame:
    """``qid, measure, value`` for every judged query (a judged query without results scores 0, as
    ``trec_eval -c``); one pytrec_eval pass for all ``measures``."""
    if qrels is None:
        raise InputError(f"measures {[m.name for m in measures]} need relevance judgements (qrels)", field="qrels")
    for column in ("qid", "docno", "score"):
        if column not in results.columns:
            raise InputError(f"ranking measures {[m.name for m in measures]} need a ranking (qid, docno, score); "
                             f"the table has {list(results.columns)}", field=column)
    ranked = results[results["docno"].notna()] if results["docno"].isna().any() else results
    # the id and label rules (rag.core.schema): a NUL, a space or a float id, a label 1.7 never reach pytrec_eval
    ranked = ranked.assign(qid=check_ids(ranked["qid"], "query id", "qid"),
                           docno=check_ids(ranked["docno"], "document id", "docno"))
    qrels = validate_qrels(qrels)
    if warn:
        warn_id_mismatch(ranked, qrels)
    run = _nested(ranked["qid"], ranked["docno"], ranked["score"], float)
    evaluator = _evaluator(measures, qrels)
    # the provider's own loop: ir-measures' public iter_calc adds, per value, a set lookup that hashes the measure
    # by its repr (a third of the time); the judged queries it would add are added below, with 0
    calc = getattr(evaluator, "_iter_calc", evaluator.iter_calc)
    by_id = {id(m.measure): m.name for m in measures}
    names = {m.measure: m.name for m in measures}
    qids, found, numbers = [], [], []
    for metric in calc(run):
        qids.append(metric.query_id)
        found.append(by_id.get(id(metric.measure)) or names[metric.measure])
        numbers.append(metric.value)
    values = pd.DataFrame({"qid": qids, "measure": found, "value": np.asarray(numbers, dtype=np.float64)})
    expected = pd.MultiIndex.from_product([sorted(map(str, pd.unique(qrels["qid"]))), [m.name for m in measures]],
                                          names=["qid", "measure"])
    return values.set_index(["qid", "measure"])["value"].reindex(expected, fill_value=0.0).reset_index()
