"""Benchmark: ragif's p-MRR against MTEB's ``calculate_pmrr`` on small and on FollowIR-sized paired runs.

Peer: ``mteb._evaluators.retrieval_metrics.calculate_pmrr`` (mteb must be installed: ``pip install mteb``;
this script installs nothing). Both get their natural input: MTEB its nested dicts (``qid-og`` /
``qid-changed`` runs, ``{qid: [changed doc ids]}``) built before timing, ragif its DataFrames (the two runs
and the changed documents as ``{qid: [doc ids]}``, as a FollowIR dataset ships them; a second ragif
column computes them from the two qrels inside the timing). Runs have ties, unretrieved changed documents
and queries missing from one run; the values must agree to 1e-12. Interleaved, best of ``--repeat``.

    python experiments/bench_pmrr.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from parity.stats import mteb_dicts, paired_runs
from rag.evaluation.pmrr import p_mrr

SIZES = [("small", 3, 10), ("small", 8, 20), ("medium", 20, 100), ("FollowIR-sized", 50, 1000)]


def best_of(repeat: int, run) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    from mteb._evaluators.retrieval_metrics import calculate_pmrr

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    logging.disable(logging.WARNING)          # both sides warn about the skipped queries
    print(f"{'runs':<16} {'queries':>7} {'docs/q':>6} {'changed':>7} {'mteb ms':>9} {'ragif ms':>9} {'ratio':>7} "
          f"{'ragif+qrels ms':>14} {'ratio':>7}")
    warm = paired_runs(2, 5, seed=1)                 # first calls import and set up lazily: not timed
    calculate_pmrr(*mteb_dicts(warm))
    p_mrr(warm["run_og"], warm["run_new"], warm["qrels_og"], warm["qrels_new"])
    for label, n_queries, n_docs in SIZES:
        runs = paired_runs(n_queries, n_docs, seed=n_queries * 7 + n_docs)
        og, new, sets = mteb_dicts(runs)
        n_changed = sum(map(len, sets.values()))
        t_mteb = t_ours = t_qrels = float("inf")
        for _ in range(opts.repeat):             # interleaved
            t, v_mteb = best_of(1, lambda: float(calculate_pmrr(og, new, sets)))
            t_mteb = min(t_mteb, t)
            t, v_ours = best_of(1, lambda: p_mrr(runs["run_og"], runs["run_new"], changed=sets, scale=1))
            t_ours = min(t_ours, t)
            t, v_qrels = best_of(1, lambda: p_mrr(runs["run_og"], runs["run_new"], runs["qrels_og"],
                                                  runs["qrels_new"], scale=1))
            t_qrels = min(t_qrels, t)
        if not (abs(v_mteb - v_ours) < 1e-12 and abs(v_mteb - v_qrels) < 1e-12):
            raise SystemExit(f"{label}: p-MRR differs: mteb {v_mteb!r}, ragif {v_ours!r} / {v_qrels!r}")
        print(f"{label:<16} {n_queries:>7} {n_docs:>6} {n_changed:>7} {t_mteb * 1e3:9.2f} {t_ours * 1e3:9.2f} "
              f"{t_mteb / t_ours:6.1f}x {t_qrels * 1e3:14.2f} {t_mteb / t_qrels:6.1f}x")
    print("equal values (to 1e-12) on every size; goal: ratio >= x1.0 on small and FollowIR-sized runs")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
