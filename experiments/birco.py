"""BIRCO (four tasks, re-ranking each query's candidate pool): nDCG@10 with and without the task instruction.

    python experiments/birco.py                        # BM25 and MiniLM, all queries
    python experiments/birco.py --queries 20 --models minilm mpnet --threads 1

Systems: BM25 (Lucene, k1=0.9 b=0.4, scoring only the pool) and bi-encoders (cosine) with the task
instruction ignored or appended to the query (``f"{query} {instruction}"``, the MTEB default).
Writes one experiment folder per task under ``--output`` and prints a markdown table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from rag.datasets import load_dataset  # noqa: E402
from rag.datasets.named import BIRCO_TASKS  # noqa: E402
from rag.experiment import Experiment  # noqa: E402
from retrievers.dense import DenseRetriever  # noqa: E402
from retrievers.lucene import LuceneBM25  # noqa: E402
from retrievers.text import CandidatePool  # noqa: E402

MODELS = {"minilm": ("MiniLM", "all-MiniLM-L6-v2"), "mpnet": ("mpnet", "all-mpnet-base-v2")}


def pipelines(ds, models: list[str], threads: int) -> dict:
    out = {}
    for mode, label in (("ignore", "no instruction"), ("append", "+ instruction")):
        out[f"BM25 ({label})"] = CandidatePool(ds) >> LuceneBM25(ds.corpus, rerank=True, instruction=mode)
        for key in models:
            name, model = MODELS[key]
            out[f"{name} ({label})"] = CandidatePool(ds) >> DenseRetriever(
                ds.corpus, model=model, rerank=True, instruction=mode, rerank_encode="candidates", threads=threads)
    return out


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(BIRCO_TASKS), choices=BIRCO_TASKS)
    parser.add_argument("--models", nargs="*", default=["minilm"], choices=list(MODELS))
    parser.add_argument("--queries", type=int, default=0, help="first N queries per task (0 = all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="results/birco")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    columns = {}
    for task in args.tasks:
        ds = load_dataset(f"birco-{task}")
        queries = ds.queries("test")
        if args.queries:
            queries = queries.head(args.queries)
        t0 = time.perf_counter()
        result = Experiment(pipelines(ds, args.models, args.threads), ds, ["nDCG@10"], queries=queries,
                            baseline="BM25 (no instruction)", name=f"birco-{task}").run()
        result.save(Path(args.output) / task)
        columns[f"{task} (n={len(queries)})"] = result.table["nDCG@10"]
        print(f"{task}: {len(queries)} queries, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(columns)
    table["mean"] = table.mean(axis=1)
    print(markdown(table))
    return table


def markdown(table: pd.DataFrame) -> str:
    head = "| system | " + " | ".join(table.columns) + " |"
    rule = "|---" * (len(table.columns) + 1) + "|"
    rows = [f"| {name} | " + " | ".join(f"{v:.4f}" for v in row) + " |" for name, row in table.iterrows()]
    return "\n".join([head, rule, *rows])


if __name__ == "__main__":
    main()
