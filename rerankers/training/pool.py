"""Training data: the pool of (query, document) pairs with labels and difficulty, and the pair sampler."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rerankers.training import curriculum as cl


def training_pool(queries: pd.DataFrame, qrels: pd.DataFrame, run: pd.DataFrame, heuristic: str,
                  positives: str = "intersect", negatives_depth: int = 100) -> pd.DataFrame:
    """One row per usable (query, document): ``qid, docno, label, relevant, rank (1-based, NaN when not in
    the run), score, ease`` where ``ease`` is the heuristic's v(q, d) (§3.1).

    Positives: judged ``label > 0``, restricted to the run when ``positives="intersect"``; with ``"all"``
    a positive outside the run gets rank 1000 and the run's lowest score (it ranked below every run
    document). Negatives: the run's top ``negatives_depth`` documents that are not judged relevant.
    Queries without a positive or without a negative are left out.
    """
    cl.check_heuristic(heuristic)
    run = run[run["qid"].isin(set(queries["qid"]))]
    if run.empty:
        raise InputError("the first-stage run has no results for the training queries", field="qid")
    run = run[["qid", "docno", "score", "rank"]].assign(rank=run["rank"].astype(float) + 1.0)
    rel = qrels[qrels["label"] > 0][["qid", "docno", "label"]]
    rel = rel[rel["qid"].isin(set(queries["qid"]))]
    pos = rel.merge(run, on=["qid", "docno"], how="inner" if positives == "intersect" else "left")
    judged = qrels[["qid", "docno", "label"]]
    neg = run[run["rank"] <= negatives_depth].merge(judged, on=["qid", "docno"], how="left")
    neg = neg[~(neg["label"].fillna(0) > 0)].assign(label=0)
    pool = pd.concat([pos.assign(relevant=True), neg.assign(relevant=False)], ignore_index=True)
    has_both = pool.groupby("qid")["relevant"].agg(lambda r: r.any() and not r.all())
    pool = pool[pool["qid"].isin(has_both[has_both].index)].reset_index(drop=True)
    if pool.empty:
        raise InputError("no training query has both a positive and a negative in the run", field="qrels")
    parts = []
    for qid, group in pool.groupby("qid", sort=True):
        run_scores = run.loc[run["qid"] == qid, "score"].to_numpy()
        scores = group["score"].fillna(run_scores.min()).to_numpy()
        ease = cl.ease_values(heuristic, group["rank"].tolist(), scores, run_scores)
        parts.append(group.assign(score=scores, ease=ease))
    out = pd.concat(parts, ignore_index=True)
    out["label"] = out["label"].astype("int64")
    return out[["qid", "docno", "label", "relevant", "rank", "score", "ease"]]


class PairSampler:
    """Draws (query, positive, negatives) samples: a query uniformly, then one positive and
    ``num_negatives`` negatives of it uniformly (with replacement across samples)."""

    def __init__(self, pool: pd.DataFrame, num_negatives: int, seed: int):
        self.pool = pool
        self.num_negatives = num_negatives
        self.rng = np.random.default_rng(seed)
        self.qids = sorted(pool["qid"].unique())
        self.pos = {q: g.index.to_numpy() for q, g in pool[pool["relevant"]].groupby("qid")}
        self.neg = {q: g.index.to_numpy() for q, g in pool[~pool["relevant"]].groupby("qid")}

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions in ``pool``: positives (n,) and negatives (n, num_negatives)."""
        pos = np.empty(n, dtype=np.int64)
        neg = np.empty((n, self.num_negatives), dtype=np.int64)
        for i in range(n):
            q = self.qids[self.rng.integers(len(self.qids))]
            pos[i] = self.rng.choice(self.pos[q])
            neg[i] = self.rng.choice(self.neg[q], size=self.num_negatives, replace=len(self.neg[q]) < self.num_negatives)
        return pos, neg

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state


