"""p-MRR (FollowIR, Weller et al. 2024): does a run follow a changed instruction?

For each query, D_q holds the documents whose label differs between the original and the changed
qrels (a document judged in one qrels only counts as label 0 in the other). For each d in D_q, with
R_og and R_new its 1-based ranks in the runs with the original and the changed instruction (scores
sorted descending by a stable sort over the run's row order; a document absent from a run ranks
``len(run) + 1``)::

    s = R_new / R_og - 1     if R_og >= R_new   (moved up or stayed: -1 < s <= 0)
    s = 1 - R_og / R_new     otherwise          (moved down, as wanted: 0 < s < 1)

p-MRR(q) is the mean of s over D_q; the reported p-MRR is the mean over queries with a non-empty D_q,
times 100 (``scale=100``). Queries whose labels did not change have no p-MRR and are left out.

As a ragif measure (``"p-MRR"`` in configs) it reads one results table that holds both runs: the
original-instruction run under the real query ids and the changed-instruction run under
``qid + CHANGED_SUFFIX`` (what :class:`retrievers.instruction_pair.InstructionPair` produces), the original qrels as
``qrels``, and the changed qrels from the dataset it is bound to (:meth:`PMRR.bind_dataset`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rag.core.errors import InputError

CHANGED_SUFFIX = "::changed"


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


def _ranks(run: pd.DataFrame) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """1-based rank of every (qid, docno) by descending score (stable over row order) and run sizes."""
    if run.empty:
        return {}, {}
    frame = run[["qid", "docno", "score"]].astype({"qid": str, "docno": str})
    frame = frame.assign(_row=np.arange(len(frame)))
    frame = frame.sort_values(["qid", "score", "_row"], ascending=[True, False, True], kind="mergesort")
    ranks = frame.groupby("qid", sort=False).cumcount() + 1
    lookup = dict(zip(zip(frame["qid"], frame["docno"]), ranks.tolist()))
    sizes = frame.groupby("qid", sort=False).size().to_dict()
    return lookup, sizes


def rank_change_score(rank_og: int, rank_new: int) -> float:
    """The per-document score s of p-MRR (see the module docstring)."""
    if rank_og >= rank_new:
        return rank_new / rank_og - 1.0
    return 1.0 - rank_og / rank_new


def p_mrr_per_query(run_og: pd.DataFrame, run_changed: pd.DataFrame, qrels_og: pd.DataFrame,
                    qrels_changed: pd.DataFrame, scale: float = 100.0) -> pd.Series:
    """p-MRR of each query with changed labels (Series indexed by ``qid``, times ``scale``)."""
    changed = changed_documents(qrels_og, qrels_changed)
    og_rank, og_size = _ranks(run_og)
    new_rank, new_size = _ranks(run_changed)
    scores: dict[str, list[float]] = {}
    for qid, docno in zip(changed["qid"], changed["docno"]):
        r_og = og_rank.get((qid, docno), og_size.get(qid, 0) + 1)
        r_new = new_rank.get((qid, docno), new_size.get(qid, 0) + 1)
        scores.setdefault(qid, []).append(rank_change_score(r_og, r_new))
    series = pd.Series({q: float(np.mean(v)) * scale for q, v in scores.items()}, dtype="float64", name="p-MRR")
    series.index.name = "qid"
    return series.sort_index()


def p_mrr(run_og: pd.DataFrame, run_changed: pd.DataFrame, qrels_og: pd.DataFrame,
          qrels_changed: pd.DataFrame, scale: float = 100.0) -> float:
    """Macro-averaged p-MRR (NaN when no label changed)."""
    per_query = p_mrr_per_query(run_og, run_changed, qrels_og, qrels_changed, scale)
    return float(per_query.mean()) if len(per_query) else float("nan")


def split_paired_run(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The original and the changed-instruction runs from a paired results table."""
    qids = results["qid"].astype(str)
    is_changed = qids.str.endswith(CHANGED_SUFFIX)
    changed = results[is_changed].copy()
    changed["qid"] = qids[is_changed].str[: -len(CHANGED_SUFFIX)]
    return results[~is_changed], changed


@dataclass
class PMRR:
    """The p-MRR measure (``name`` "p-MRR"); needs the changed qrels (given or from :meth:`bind_dataset`)."""

    qrels_changed: pd.DataFrame | None = field(default=None, repr=False)
    scale: float = 100.0
    name: str = "p-MRR"
    kind: ClassVar[str] = "instruction"
    lower_is_better: ClassVar[bool] = False
    missing_reason: ClassVar[str] = "no changed document"

    def bind_dataset(self, dataset: Any, split: str | None = None) -> "PMRR":
        """This measure with the changed qrels of a FollowIR-style ``dataset`` (one with ``qrels_changed``)."""
        getter = getattr(dataset, "qrels_changed", None)
        if getter is None:
            raise InputError(f"p-MRR needs a dataset with original and changed qrels (FollowIR-style); "
                             f"{getattr(dataset, 'name', dataset)!r} has only one set", field="measures")
        return PMRR(getter(split), self.scale, self.name)

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series:
        if self.qrels_changed is None or qrels is None:
            raise InputError("p-MRR needs the original and the changed qrels (use a FollowIR-style dataset)",
                             field="measures")
        run_og, run_changed = split_paired_run(results)
        if run_changed.empty and not results.empty:
            raise InputError(f"p-MRR needs the changed-instruction run too (query ids ending in "
                             f"{CHANGED_SUFFIX!r}); wrap the pipeline in `instruction-pair`", field="qid")
        return p_mrr_per_query(run_og, run_changed, qrels, self.qrels_changed, self.scale)
