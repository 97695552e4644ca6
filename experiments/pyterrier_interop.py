"""PyTerrier both ways on BEIR SciFact (test, 300 claims): a PyTerrier pipeline with ragif stages in it, scored by
``pt.Experiment``, and a ragif pipeline with a PyTerrier transformer in it, scored by ragif's ``Experiment``.

The PyTerrier transformer is pyterrier-dr's ``SBertBiEncoder(...).text_scorer()`` over the offline MiniLM weights
(no download, no Java); it re-ranks ragif's Lucene BM25 top ``--depth``. The same re-ranking by ragif's own
``DenseRetriever(rerank=True)`` (same model, passage text without title, as pyterrier-dr reads ``text``) is the
peer row. Each PyTerrier pipeline runs once; ``pt.Experiment`` scores its run, and the table is checked against
ragif's evaluation of the very same run.

    python experiments/pyterrier_interop.py [--depth 20] [--queries 300]

Needs the ``pyterrier`` extra and ``../shared/data/scifact``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=20, help="BM25 candidates re-ranked per query")
    parser.add_argument("--queries", type=int, default=300, help="first N test queries")
    args = parser.parse_args()

    import pyterrier as pt
    from pyterrier.measures import RR, R, nDCG
    from pyterrier_dr import SBertBiEncoder

    from rag.datasets import load_dataset
    from rag.evaluation.scoring import evaluate
    from rag.experiment import Experiment
    from rag.interop.pyterrier import from_pyterrier, pyterrier_topics, to_pyterrier
    from rag.report.tables import markdown_table
    from retrievers.dense import DenseRetriever
    from rag.models import resolve_model
    from retrievers.lucene import LuceneBM25
    from retrievers.text import AddText

    data = load_dataset("scifact")
    queries = data.queries().head(args.queries)
    qrels = data.qrels()
    qrels = qrels[qrels["qid"].isin(queries["qid"])]
    measures, pt_measures = ["nDCG@10", "R@100", "RR@10"], [nDCG @ 10, R @ 100, RR @ 10]
    model_dir = resolve_model("all-MiniLM-L6-v2")
    bm25 = LuceneBM25(data.corpus)
    scorer = SBertBiEncoder(model_dir, batch_size=32).text_scorer()

    # ---------------------------------------------------------------- A: PyTerrier pipeline, ragif stages in it
    t0 = time.perf_counter()
    pt_systems = {
        "ragif BM25": to_pyterrier(bm25),
        f"ragif BM25 %{args.depth} >> pt-dr MiniLM": to_pyterrier(bm25 % args.depth >> AddText(data.corpus)) >> scorer,
    }
    runs_a = {name: system.transform(pyterrier_topics(queries)) for name, system in pt_systems.items()}
    seconds_a = time.perf_counter() - t0
    table_a = pt.Experiment(list(runs_a.values()), pyterrier_topics(queries), qrels, pt_measures,
                            names=list(pt_systems), baseline=0, correction="holm", round=4)
    check_a = {name: evaluate(run, qrels, measures, qids=queries["qid"]) for name, run in runs_a.items()}

    # ---------------------------------------------------------------- B: ragif pipeline, a PyTerrier transformer in it
    t0 = time.perf_counter()
    pt_rerank = from_pyterrier(scorer, needs=["qid", "query", "docno", "text"], gives=["score"],
                               identity={"pyterrier_dr": "SBertBiEncoder.text_scorer", "model": "all-MiniLM-L6-v2"})
    systems = {
        "BM25": bm25,
        f"BM25 %{args.depth} >> pt-dr MiniLM": bm25 % args.depth >> AddText(data.corpus) >> pt_rerank,
        f"BM25 %{args.depth} >> ragif MiniLM": bm25 % args.depth >> DenseRetriever(
            data.corpus, model="all-MiniLM-L6-v2", rerank=True, rerank_encode="candidates", with_title=False),
    }
    results = Experiment(systems, data, measures, baseline="BM25", queries=queries, name="pyterrier-interop").run()
    seconds_b = time.perf_counter() - t0
    peer = results.runs[list(systems)[1]].merge(results.runs[list(systems)[2]], on=["qid", "docno"],
                                                suffixes=("_pt", "_ragif"))

    print(f"## A. PyTerrier pipeline with ragif stages (pt.Experiment, SciFact test, {len(queries)} queries, "
          f"{seconds_a:.0f} s)\n")
    print(markdown_table(table_a, digits=4))
    same = all(np.allclose([check_a[n][m] for m in measures], table_a.set_index("name").loc[n, measures].astype(float),
                           atol=5e-5) for n in pt_systems)
    print(f"\nragif's evaluation of the same runs: {'identical (to 4 decimals)' if same else 'DIFFERENT'}: "
          + "; ".join(f"{n}: " + ", ".join(f"{m} {check_a[n][m]:.4f}" for m in measures) for n in pt_systems))
    print(f"\n## B. ragif pipeline with a PyTerrier transformer (ragif Experiment, {seconds_b:.0f} s)\n")
    print(markdown_table(results.table, digits=4, index=True))
    print("\nsignificance vs BM25:\n" + markdown_table(results.significance, digits=4))
    print(f"\npeer check, pyterrier-dr vs ragif MiniLM scores on the same {len(peer)} (query, document) pairs: "
          f"max |difference| {float(np.abs(peer['score_pt'] - peer['score_ragif']).max()):.2e}")


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
