"""ragif's two BM25 backends side by side on a dataset: effectiveness, score differences, rank agreement.

    python experiments/compare_bm25_backends.py --dataset scifact --k 1000

Anserini rounds its scores to 4 decimals (and nudges tied scores apart by 1e-6), so raw scores differ by
up to about 1e-4; rankings differ only where Lucene breaks exact ties by its internal document order.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from rag.core.cache import Cache
    from rag.datasets import load_dataset
    from rag.evaluation.scoring import evaluate
    from retrievers.bm25.fast import FastBM25
    from retrievers.lucene import LuceneBM25

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--split", default="test")
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--cache", default=None, help="cache folder (default: ragif's)")
    args = parser.parse_args()

    ds = load_dataset(args.dataset)
    queries, qrels = ds.queries(args.split), ds.qrels(args.split)
    runs, seconds = {}, {}
    with Cache(args.cache).activate():
        for name, stage in (("lucene", LuceneBM25(ds.corpus, k1=0.9, b=0.4, k=args.k)),
                            ("fast", FastBM25(ds.corpus, k1=0.9, b=0.4, k=args.k))):
            t0 = time.perf_counter()
            runs[name] = stage(queries)
            seconds[name] = time.perf_counter() - t0
    print(f"{args.dataset} {args.split}: {len(queries)} queries, k={args.k}")
    for name, run in runs.items():
        figures = evaluate(run, qrels, ["nDCG@10", "R@100", "R@1000"])
        print(f"  {name:7s} " + "  ".join(f"{m} {v:.4f}" for m, v in figures.items())
              + f"  ({seconds[name]:.1f} s incl. index on first run)")
    lucene, fast = runs["lucene"], runs["fast"]
    both = lucene.merge(fast, on=["qid", "docno"], suffixes=("_lucene", "_fast"))
    diff = (both["score_lucene"] - both["score_fast"]).abs()
    print(f"  common (qid, docno) pairs: {len(both)} of {len(lucene)}; |score difference| max {diff.max():.2e}, "
          f"mean {diff.mean():.2e}")
    for depth in (10, 100, args.k):
        a = lucene[lucene["rank"] < depth].groupby("qid")["docno"].apply(list)
        b = fast[fast["rank"] < depth].groupby("qid")["docno"].apply(list).reindex(a.index)
        identical = np.mean([x == y for x, y in zip(a, b)])
        overlap = np.mean([len(set(x) & set(y if isinstance(y, list) else [])) / max(len(x), 1) for x, y in zip(a, b)])
        print(f"  top-{depth}: identical ranked lists {identical:.1%} of queries, document overlap {overlap:.2%}")


if __name__ == "__main__":
    main()
