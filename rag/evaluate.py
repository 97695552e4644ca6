"""Evaluation: ir-measures measure objects and ragif measures, per query and aggregated, and paired
significance tests against a baseline with multiple-comparison correction.

>>> from rag.evaluate import evaluate
>>> evaluate(results, qrels, ["nDCG@10", "R@100"])            # doctest: +SKIP
{'nDCG@10': 0.6789, 'R@100': 0.9253}
"""
from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd

from .errors import InputError, did_you_mean

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
BUILTIN_MEASURES: dict[str, str] = {"p-MRR": "rag.pmrr:_factory"}


def register_measure(name: str, factory: Any) -> None:
    """Make a ragif measure available by name in configs and :func:`parse_measure`.

    ``factory(spec)`` receives the full spec string (e.g. ``"p-MRR"`` or ``"K-Precision"``)."""
    _CUSTOM[name] = factory


_PLUGINS = ("rag.metrics.measures", "rag.adaptive.measures")  # modules that register measures when first needed


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


PAIRED_SUFFIX = "::changed"  # FollowIR-style paired runs (rag.followir): judged by p-MRR, not by qrels


def _warn_id_mismatch(results: pd.DataFrame, qrels: pd.DataFrame) -> None:
    """Say (with counts) when run and qrels ids do not line up: usually a sign of mismatched files."""
    run_qids = {q for q in results["qid"].astype(str) if not q.endswith(PAIRED_SUFFIX)}
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


# ---------------------------------------------------------------------------- significance
TESTS = ("t-test", "wilcoxon")
CORRECTIONS = ("holm", "bonferroni", "none")


def paired_test(a: np.ndarray, b: np.ndarray, test: str = "t-test") -> float:
    """Two-sided p-value of a paired test between per-query values ``a`` and ``b``.

    scipy's p-value (``ttest_rel``; ``wilcoxon`` with ``zero_method="wilcox"``) for every input, with
    exact rules for the two cases where scipy has none (it returns NaN there):

    - every difference ``a - b`` is exactly 0.0 (identical per-query values), or fewer than two pairs:
      1.0 — no evidence of a difference. Differences of 1e-12 are *not* zero: they get scipy's p-value.
    - t-test only, every difference is the same non-zero number: 0.0 (zero variance, a consistent shift).
    """
    from scipy import stats

    if test not in TESTS:
        raise InputError(f"unknown test {test!r}{did_you_mean(test, TESTS)}; use one of {TESTS}", field="test")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"a paired test needs two equally long lists of per-query values, got shapes "
                         f"{a.shape} and {b.shape}", field="test")
    diff = a - b
    if len(diff) < 2 or not diff.any():
        return 1.0
    if test == "t-test":
        if np.all(diff == diff[0]) and not np.isnan(diff[0]):
            return 0.0
        return float(stats.ttest_rel(a, b).pvalue)
    return float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue)


def correct(p_values: Sequence[float], method: str = "holm") -> list[float]:
    """Adjust p-values for multiple comparisons (Holm step-down, Bonferroni, or none)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if method == "none" or m == 0:
        return p.tolist()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0).tolist()
    if method == "holm":
        order = np.argsort(p, kind="mergesort")
        adjusted = np.empty(m)
        running = 0.0
        for i, idx in enumerate(order):
            running = max(running, min((m - i) * p[idx], 1.0))
            adjusted[idx] = running
        return adjusted.tolist()
    raise InputError(f"unknown correction {method!r}{did_you_mean(method, CORRECTIONS)}", field="correction")


def significance(per_query_values: pd.DataFrame, baseline: str, test: str = "t-test",
                 correction: str = "holm", alpha: float = 0.05) -> pd.DataFrame:
    """Paired tests of every system against ``baseline``, per measure, corrected across systems.

    ``per_query_values``: long table ``system, qid, measure, value``. Returns ``system, measure, mean,
    baseline_mean, delta, p_value, p_adjusted, significant``.
    """
    systems = list(dict.fromkeys(per_query_values["system"]))
    if baseline not in systems:
        raise InputError(f"baseline {baseline!r} is not among the systems{did_you_mean(baseline, systems)}",
                         field="baseline")
    rows = []
    for measure, group in per_query_values.groupby("measure", sort=False):
        wide = group.pivot_table(index="qid", columns="system", values="value", aggfunc="first")
        base = wide[baseline]
        block = []
        for system in systems:
            if system == baseline or system not in wide:
                continue
            pair = pd.concat([wide[system], base], axis=1).dropna()
            p = paired_test(pair.iloc[:, 0].to_numpy(), pair.iloc[:, 1].to_numpy(), test)
            block.append({"system": system, "measure": measure, "mean": float(pair.iloc[:, 0].mean()),
                          "baseline_mean": float(pair.iloc[:, 1].mean()),
                          "delta": float(pair.iloc[:, 0].mean() - pair.iloc[:, 1].mean()),
                          "p_value": p, "n": len(pair)})
        adjusted = correct([b["p_value"] for b in block], correction)
        for b, pa in zip(block, adjusted):
            b["p_adjusted"] = pa
            b["significant"] = bool(pa < alpha) and not math.isnan(pa)
        rows.extend(block)
    columns = ["system", "measure", "mean", "baseline_mean", "delta", "p_value", "p_adjusted", "significant", "n"]
    return pd.DataFrame(rows, columns=columns)
