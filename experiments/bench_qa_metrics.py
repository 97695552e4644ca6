"""Benchmark: each token-overlap answer metric of ragif against instruct-qa's own metric class (10,000 responses).

Peer: instruct-qa 0.0.2's metric classes (``EM``, ``F1``, ``Recall``, ``Precision``, ``RecallEM``,
``KPrecision`` ... ``KF1PlusPlus``), imported through stub modules for their heavy imports
(tests/oracle_cases.py); the peer must already be installed (``pip install --no-deps instruct-qa``,
part of the ``dev`` extra): this script installs nothing. Each metric is timed on its own, ragif through
``score_answers(frame, [metric])`` (its public API, DataFrame in and out), the peer through the class's
``__call__`` (per-item scores kept in memory, not written), interleaved and best of ``--repeat``; the
per-item values must be identical. Data: NQ questions and answers of ../shared/data/nq-rag, each response
a slice of the gold passage, the evidence the gold passage plus a distractor (a k=2 retrieval prompt).

    python experiments/bench_qa_metrics.py [--n 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
import types

import numpy as np
import pandas as pd

from rag.datasets import load_dataset
from rag.evaluation.answers import score_answers
from parity.cases import (
    INSTRUCTQA_CORRECTNESS,
    INSTRUCTQA_FAITHFULNESS,
    instructqa_modules,
)


def build(n: int, seed: int = 0) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    ds = load_dataset("nq-rag")
    queries = ds.queries("test")
    docs = ds.corpus.frame().set_index("docno")
    rng = random.Random(seed)
    dis = [t for d, t in docs["text"].items() if str(d).startswith("dis-")]
    rows = queries.sample(n=n, replace=n > len(queries), random_state=seed).to_dict("records")
    responses, golds, evidence, questions = [], [], [], []
    for r in rows:
        words = str(docs.loc[r["gold_docno"], "text"]).split()
        start = rng.randint(0, max(0, len(words) - 5))
        responses.append(" ".join(words[start:start + rng.randint(1, 60)]))
        golds.append(list(r["answers"]))
        evidence.append(str(docs.loc[r["gold_docno"], "text"]) + " " + rng.choice(dis))
        questions.append(r["query"])
    return responses, golds, evidence, questions


class _Keep:
    """Stands in for instruct-qa's score files: keeps the per-item scores its ``__call__`` would write."""

    def __init__(self, metric):
        self.scores: list[float] = []
        metric.store_individual_scores = True
        metric.save_individual_scores = lambda ids, scores: self.scores.extend(
            next(iter(s.values())) for s in scores)


def best_of(repeat: int, run) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    responses, golds, evidence, questions = build(opts.n)
    frame = pd.DataFrame({"query": questions, "answer": responses, "answers": golds, "evidence": evidence})
    metrics, faith = instructqa_modules()
    args = types.SimpleNamespace(score_dir=tempfile.mkdtemp(), store_individual_scores=False)
    history = [[q] for q in questions]
    ev_lists = [[e] for e in evidence]
    print(f"{opts.n} responses, {sum(map(len, golds))} gold answers, mean evidence "
          f"{np.mean([len(e.split()) for e in evidence]):.0f} words; best of {opts.repeat}, interleaved")
    print(f"{'metric':<14} {'instruct-qa class':<20} {'peer s':>8} {'ragif s':>8} {'ratio':>7}  values")
    ratios = []
    for ours, cls in {**INSTRUCTQA_CORRECTNESS, **INSTRUCTQA_FAITHFULNESS}.items():
        module = metrics if ours in INSTRUCTQA_CORRECTNESS else faith
        call_args = (responses, golds) if ours in INSTRUCTQA_CORRECTNESS else (history, responses, ev_lists)
        t_peer = t_ours = float("inf")
        for _ in range(opts.repeat):
            peer = getattr(module, cls)(cls.lower(), file_name="x", args=args)
            keep = _Keep(peer)
            t, _ = best_of(1, lambda: peer(*call_args, ids=list(range(opts.n))))
            t_peer = min(t_peer, t)
            t, scored = best_of(1, lambda: score_answers(frame, [ours]))
            t_ours = min(t_ours, t)
        same = np.array_equal(scored[ours].to_numpy(), np.asarray(keep.scores, dtype=np.float64))
        ratios.append(t_peer / t_ours)
        print(f"{ours:<14} {cls:<20} {t_peer:8.2f} {t_ours:8.3f} {t_peer / t_ours:6.1f}x  "
              f"{'identical' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(f"{ours}: values differ from instruct-qa's {cls}")
    print(f"slowest ratio x{min(ratios):.1f}, median x{np.median(ratios):.1f} (goal >= x10 per metric)")


if __name__ == "__main__":
    main()
