"""p-MRR (FollowIR, Weller et al. 2024): does a run follow a changed instruction? (METHODS.md §2.3)

Semantics of MTEB's ``calculate_pmrr`` (``mteb/_evaluators/retrieval_metrics.py``, after its tie-break
fix). For each query q, D_q holds the documents whose relevance changed: given by the dataset
(FollowIR ships the list) or computed from the two qrels (a document judged in one qrels only counts
as label 0 in the other). For each d in D_q, R_og and R_new are its 1-based ranks in the runs with the
original and the changed instruction, after sorting that query's documents by (score, doc id)
**descending** (ties go to the larger doc id, whatever the row order); a document absent from the
query's run ranks ``|run of q| + 1``. The per-document score (FollowIR eq. 1)::

    s = (1/R_og) / (1/R_new) - 1     if R_og >= R_new   (moved up or stayed: -1 < s <= 0)
    s = 1 - (1/R_new) / (1/R_og)     otherwise          (moved down, as wanted: 0 < s < 1)

p-MRR(q) is the mean of s over D_q; the reported p-MRR is the mean over queries, times 100
(``scale=100``; MTEB reports the fraction, ``scale=1``). A query with changed documents that is
missing from either run is **skipped** and counted in a warning (it is not ranked 1 in both). When no
query is left with a changed document, :class:`~rag.core.errors.InputError` is raised: p-MRR is undefined
there and never a silent number. If a run holds a (query, document) pair twice, the last row counts
(as when the run is read into a dict).

As a ragif measure (``"p-MRR"`` in configs) it reads one results table that holds both runs: the
original-instruction run under the real query ids and the changed-instruction run under
``qid + CHANGED_SUFFIX`` (what :class:`retrievers.instruction_pair.InstructionPair` produces), the original qrels as
``qrels``, and the changed documents from the dataset it is bound to (:meth:`PMRR.bind_dataset`).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Mapping, Union

import numpy as np
import pandas as pd

from rag.core.errors import InputError

log = logging.getLogger(__name__)

CHANGED_SUFFIX = "::changed"
# what a caller may pass as the changed documents: a table (qid, docno) or a mapping qid -> doc ids
ChangedDocs = Union[pd.DataFrame, Mapping[str, Iterable[str]]]


def changed_documents(qrels_og: pd.DataFrame, qrels_changed: pd.DataFrame) -> pd.DataFrame:
    """``qid, docno, label_og, label_changed`` for the judgements whose label differs."""
    for name, frame in (("original qrels", qrels_og), ("changed qrels", qrels_changed)):
        missing = [c for c in ("qid", "docno", "label") if c not in frame.columns]
        if missing:
            raise InputError(f"{name} lack column(s) {missing}", field=missing[0])
    og = qrels_og[["qid", "docno", "label"]].astype({"qid": str, "docno": str})
    new = qrels_changed[["qid", "docno", "label"]].astype({"qid": str, "docno": str})
    both = og.merge(new, on=["qid", "docno"], how="outer", suffixes=("_og", "_changed"))
    both[["label_og", "label_changed"]] = both[["label_og", "label_changed"]].fillna(0).astype("int64")
    return both[both["label_og"] != both["label_changed"]].reset_index(drop=True)


def _strings(values: pd.Series) -> list[str]:
    out = values.tolist()
    if values.dtype == object and all(type(v) is str for v in out):
        return out
    return [str(v) for v in out]


def changed_sets(changed: ChangedDocs) -> dict[str, list[str]]:
    """The changed documents as ``{qid: [docno, ...]}`` (order kept, duplicates dropped)."""
    if isinstance(changed, pd.DataFrame):
        for column in ("qid", "docno"):
            if column not in changed.columns:
                raise InputError(f"the changed documents lack a {column!r} column; they have "
                                 f"{list(changed.columns)}", field=column)
        pairs = zip(_strings(changed["qid"]), _strings(changed["docno"]))
    else:
        pairs = ((str(q), str(d)) for q, docs in changed.items()
                 for d in ([docs] if isinstance(docs, str) else docs))
    out: dict[str, dict[str, None]] = {}
    for qid, docno in pairs:
        out.setdefault(qid, {})[docno] = None
    return {qid: list(docs) for qid, docs in out.items()}


def _labels(qrels: pd.DataFrame, name: str) -> dict[tuple[str, str], float]:
    missing = [c for c in ("qid", "docno", "label") if c not in qrels.columns]
    if missing:
        raise InputError(f"{name} lack column(s) {missing}", field=missing[0])
    return dict(zip(zip(_strings(qrels["qid"]), _strings(qrels["docno"])), qrels["label"].fillna(0).tolist()))


def _changed_from_qrels(qrels_og: pd.DataFrame, qrels_changed: pd.DataFrame) -> dict[str, list[str]]:
    """What :func:`changed_documents` finds, as ``{qid: [docno]}`` (plain dicts: fast on small qrels)."""
    og, new = _labels(qrels_og, "original qrels"), _labels(qrels_changed, "changed qrels")
    out: dict[str, list[str]] = {}
    for key in [*og, *(k for k in new if k not in og)]:
        if og.get(key, 0) != new.get(key, 0):
            out.setdefault(key[0], []).append(key[1])
    return out


def _runs_by_query(run: pd.DataFrame, wanted: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """``{qid: {docno: score}}`` for the queries in ``wanted`` (the last row wins for a repeated pair)."""
    if run.empty:
        return {}
    missing = [c for c in ("qid", "docno", "score") if c not in run.columns]
    if missing:
        raise InputError(f"a p-MRR run lacks column(s) {missing}; it has {list(run.columns)}", field=missing[0])
    scores = run["score"].to_numpy(dtype=np.float64)
    if np.isnan(scores).any():
        raise InputError("a p-MRR run has NaN scores: ranks are undefined", field="score")
    out: dict[str, dict[str, float]] = {}
    for qid, docno, score in zip(_strings(run["qid"]), _strings(run["docno"]), scores.tolist()):
        if qid in wanted:
            docs = out.get(qid)
            if docs is None:
                docs = out[qid] = {}
            docs[docno] = score
    return out


def _ranks(docs: dict[str, float], targets: list[str]) -> list[int]:
    """1-based rank of each target after sorting ``docs`` by (score, doc id) descending."""
    absent = len(docs) + 1
    if len(targets) <= 4:   # a few targets: count what outranks each one (linear, no sort)
        ranks = []
        for doc in targets:
            score = docs.get(doc)
            if score is None:
                ranks.append(absent)
            else:
                ranks.append(1 + sum(1 for d, s in docs.items() if s > score or (s == score and d > doc)))
        return ranks
    wanted = set(targets)
    position = {d: i for i, (_, d) in enumerate(sorted([(s, d) for d, s in docs.items()], reverse=True), 1)
                if d in wanted}
    return [position.get(doc, absent) for doc in targets]


def rank_change_score(rank_og: int, rank_new: int) -> float:
    """The per-document score s of p-MRR (see the module docstring)."""
    if rank_og >= rank_new:
        return (1 / rank_og) / (1 / rank_new) - 1
    return 1 - (1 / rank_new) / (1 / rank_og)


def p_mrr_per_query(run_og: pd.DataFrame, run_changed: pd.DataFrame, qrels_og: pd.DataFrame | None = None,
                    qrels_changed: pd.DataFrame | None = None, scale: float = 100.0,
                    changed: ChangedDocs | None = None) -> pd.Series:
    """p-MRR of each query with changed documents that both runs hold (Series indexed by ``qid``).

    ``changed``: the changed documents (a ``qid, docno`` table or ``{qid: [docno]}``); computed from
    ``qrels_og`` and ``qrels_changed`` when not given. Skipped queries are listed in ``.attrs["skipped"]``.
    """
    if changed is None:
        if qrels_og is None or qrels_changed is None:
            raise InputError("p-MRR needs the changed documents, or the original and the changed qrels",
                             field="qrels_changed")
        sets = _changed_from_qrels(qrels_og, qrels_changed)
    else:
        sets = {q: docs for q, docs in changed_sets(changed).items() if docs}
    og = _runs_by_query(run_og, sets)
    new = _runs_by_query(run_changed, sets)
    values: dict[str, float] = {}
    skipped = []
    for qid, docs in sets.items():
        if qid not in og or qid not in new:
            skipped.append(qid)
            continue
        per_doc = [rank_change_score(r_og, r_new) for r_og, r_new in zip(_ranks(og[qid], docs),
                                                                         _ranks(new[qid], docs))]
        values[qid] = math.fsum(per_doc) / len(per_doc) * scale
    if skipped:
        log.warning("p-MRR: %d of %d queries with changed documents are missing from the original or the "
                    "changed run and are skipped (e.g. %s)", len(skipped), len(sets), sorted(skipped)[:3])
    if not values:
        if not sets:
            raise InputError("p-MRR is undefined: no document changed relevance between the original and the "
                             "changed qrels", field="qrels_changed")
        raise InputError(f"p-MRR is undefined: all {len(sets)} queries with changed documents are missing from "
                         f"the original or the changed run (e.g. {sorted(skipped)[:3]})", field="qid")
    series = pd.Series(values, dtype="float64", name="p-MRR").sort_index()
    series.index.name = "qid"
    series.attrs["skipped"] = sorted(skipped)
    return series


def p_mrr(run_og: pd.DataFrame, run_changed: pd.DataFrame, qrels_og: pd.DataFrame | None = None,
          qrels_changed: pd.DataFrame | None = None, scale: float = 100.0,
          changed: ChangedDocs | None = None) -> float:
    """Macro-averaged p-MRR over the queries kept (raises :class:`InputError` when none is left)."""
    per_query = p_mrr_per_query(run_og, run_changed, qrels_og, qrels_changed, scale, changed)
    return math.fsum(per_query.tolist()) / len(per_query)


def split_paired_run(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The original and the changed-instruction runs from a paired results table."""
    qids = results["qid"].astype(str)
    is_changed = qids.str.endswith(CHANGED_SUFFIX)
    changed = results[is_changed].copy()
    changed["qid"] = qids[is_changed].str[: -len(CHANGED_SUFFIX)]
    return results[~is_changed], changed


@dataclass
class PMRR:
    """The p-MRR measure (``name`` "p-MRR").

    Changed documents: ``changed`` when given (the dataset's own list), else computed from the qrels
    passed to :meth:`per_query` and ``qrels_changed``. :meth:`bind_dataset` fills one of them.
    """

    qrels_changed: pd.DataFrame | None = field(default=None, repr=False)
    scale: float = 100.0
    name: str = "p-MRR"
    changed: ChangedDocs | None = field(default=None, repr=False)   # the changed documents (default: from the two qrels)
    kind: ClassVar[str] = "instruction"
    better: ClassVar[str] = "higher"
    digits: ClassVar[int] = 2      # scaled to -100..100
    missing_reason: ClassVar[str] = "no changed document"

    def bind_dataset(self, dataset: Any, split: str | None = None) -> "PMRR":
        """This measure with the changed documents of a FollowIR-style ``dataset``: its own list
        (``changed_documents(split)``) when it ships one, else its ``qrels_changed(split)``."""
        shipped = getattr(dataset, "changed_documents", None)
        if callable(shipped):
            listed = shipped(split)
            if listed is not None:
                return PMRR(None, self.scale, self.name, listed)
        getter = getattr(dataset, "qrels_changed", None)
        if getter is None:
            raise InputError(f"p-MRR needs a dataset with original and changed qrels (FollowIR-style); "
                             f"{getattr(dataset, 'name', dataset)!r} has only one set", field="measures")
        return PMRR(getter(split), self.scale, self.name)

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series:
        if self.changed is None and (self.qrels_changed is None or qrels is None):
            raise InputError("p-MRR needs the original and the changed qrels (use a FollowIR-style dataset)",
                             field="measures")
        run_og, run_changed = split_paired_run(results)
        if run_changed.empty and not results.empty:
            raise InputError(f"p-MRR needs the changed-instruction run too (query ids ending in "
                             f"{CHANGED_SUFFIX!r}); wrap the pipeline in `instruction-pair`", field="qid")
        return p_mrr_per_query(run_og, run_changed, qrels, self.qrels_changed, self.scale, self.changed)
