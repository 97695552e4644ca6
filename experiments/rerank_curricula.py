"""SciFact: BM25 top-100 reranked by MiniLM cross-encoders trained on SciFact train (505 claims) without a
curriculum and with each difficulty heuristic (MacAvaney et al. 2020; METHODS.md §3).

    # train + rerank some conditions/seeds (each result is written as soon as it completes)
    python experiments/rerank_curricula.py run --conditions none kdescore --seeds 1 2 3
    # OpenNIR's BERT setting: curriculum weight per micro-batch of 2 (note the '=' before a leading dash)
    python experiments/rerank_curricula.py run --conditions kdescore --micro-batch 2 --tag=-mb2
    # table over everything finished so far: nDCG@10, RR@10, P@1, significance vs BM25 and vs no curriculum
    python experiments/rerank_curricula.py table

Outputs in ``--out`` (default results/rerank-curricula): ``models/<condition>-s<seed>/`` (HF folders),
``runs/<condition>-s<seed>.trec``, ``done/<condition>-s<seed>.json`` (training time, memory, figures),
``table.md`` and ``significance.csv``. Figures are per-query means over seeds before testing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from rag.cache import Cache, atomic_write_text  # noqa: E402
from rag.datasets import load_dataset, read_run, write_run  # noqa: E402
from rag.evaluate import per_query, significance  # noqa: E402

MEASURES = ["nDCG@10", "RR@10", "P@1"]
BM25_SCIFACT = 0.6789


def bm25_run(ds, depth: int = 100) -> pd.DataFrame:
    from retrievers.lucene import LuceneBM25

    with Cache().activate():
        return LuceneBM25(ds.corpus, k1=0.9, b=0.4, k=depth)(ds.queries("test"))


def run_condition(args, ds, bm25: pd.DataFrame, condition: str, seed: int) -> None:
    import torch

    from rerankers.cross_encoder import CrossEncoderReranker
    from rerankers.training import TrainingConfig, train_reranker

    name = f"{condition}{args.tag}-s{seed}"
    out = Path(args.out)
    if (out / "done" / f"{name}.json").exists():
        print(f"{name}: already done")
        return
    config = TrainingConfig(output=str(out / "models" / name), dataset="scifact", curriculum=condition, seed=seed,
                            loss=args.loss, iterations=args.iterations, batches_per_iteration=args.batches,
                            batch_size=args.batch_size, max_length=args.max_length,
                            end_of_curriculum=args.end_of_curriculum, valid_queries=args.valid_queries,
                            valid_depth=20, patience=args.patience, run_depth=100, negatives_depth=args.neg_depth,
                            threads=args.threads, weighting=args.weighting, micro_batch_size=args.micro_batch)
    t0 = time.perf_counter()
    result = train_reranker(config)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(args.threads)
    t1 = time.perf_counter()
    reranker = CrossEncoderReranker(str(config.output), corpus=ds.corpus, k=args.depth, keep_rest=True,
                                    max_length=args.max_length, batch_size=32, threads=args.threads)
    reranked = reranker(bm25)
    rerank_s = time.perf_counter() - t1
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_run(reranked, out / "runs" / f"{name}.trec", tag=name)
    values = per_query(reranked, ds.qrels("test"), MEASURES, qids=bm25["qid"].unique())
    means = values.groupby("measure")["value"].mean().to_dict()
    record = {"condition": condition + args.tag, "seed": seed, "train_seconds": round(train_s, 1),
              "rerank_seconds": round(rerank_s, 1), "peak_memory_mb": result.peak_memory_mb,
              "best_iteration": result.best_iteration, "best_valid": result.best_valid,
              "final_loss": float(result.history["loss"].iloc[-1]), "figures": means,
              "config": config.identity(), "rerank_depth": args.depth, "threads": args.threads}
    atomic_write_text(out / "done" / f"{name}.json", json.dumps(record, indent=2) + "\n")
    print(f"{name}: {means} (train {train_s:.0f} s, rerank {rerank_s:.0f} s)", flush=True)


def table(args, ds, bm25: pd.DataFrame) -> str:
    out = Path(args.out)
    qrels = ds.qrels("test")
    qids = bm25["qid"].unique()
    frames = [per_query(bm25, qrels, MEASURES, qids=qids).assign(system="BM25")]
    records = [json.loads(p.read_text()) for p in sorted((out / "done").glob("*.json"))]
    by_condition: dict[str, list[dict]] = {}
    for r in records:
        by_condition.setdefault(r["condition"], []).append(r)
    for condition, rs in by_condition.items():
        seeds = [per_query(read_run(out / "runs" / f"{condition}-s{r['seed']}.trec"), qrels, MEASURES, qids=qids)
                 for r in rs]
        mean = pd.concat(seeds).groupby(["qid", "measure"], as_index=False)["value"].mean()
        frames.append(mean.assign(system=condition))
    long = pd.concat(frames, ignore_index=True)
    sig_bm25 = significance(long, "BM25")
    sig_none = significance(long, "none") if "none" in by_condition and len(by_condition) > 1 else None
    lines = [f"SciFact test (300 claims): BM25 top-100, top {args.depth} reranked (rest kept below). "
             f"Per-query means over seeds; paired t-test, Holm-corrected; * p<0.05 vs BM25, "
             f"+ p<0.05 vs no curriculum.", "",
             "| system | seeds | " + " | ".join(MEASURES) + " | train s/model | rerank s/model | peak RSS MB |",
             "|---|---|" + "---|" * (len(MEASURES) + 3)]
    for system in ["BM25", *by_condition]:
        cells = []
        for m in MEASURES:
            v = long[(long.system == system) & (long.measure == m)]["value"].mean()
            mark = ""
            if system != "BM25":
                row = sig_bm25[(sig_bm25.system == system) & (sig_bm25.measure == m)]
                mark += "*" if bool(row["significant"].iloc[0]) else ""
                if sig_none is not None and system != "none":
                    row = sig_none[(sig_none.system == system) & (sig_none.measure == m)]
                    mark += "+" if bool(row["significant"].iloc[0]) else ""
            cells.append(f"{v:.4f}{mark}")
        rs = by_condition.get(system, [])
        extra = ["", "", ""] if not rs else [
            f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f}", f"{sum(r['rerank_seconds'] for r in rs) / len(rs):.0f}",
            f"{max(r['peak_memory_mb'] or 0 for r in rs):.0f}"]
        seeds = ",".join(str(r["seed"]) for r in rs) or "-"
        lines.append(f"| {system} | {seeds} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", text)
    sig = pd.concat([sig_bm25.assign(baseline="BM25")] + ([sig_none.assign(baseline="none")] if sig_none is not None else []))
    atomic_write_text(out / "significance.csv", sig.to_csv(index=False, float_format="%.6g"))
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["run", "table"])
    p.add_argument("--conditions", nargs="+", default=["none", "reciprank", "normscore", "kdescore"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--out", default="results/rerank-curricula")
    p.add_argument("--depth", type=int, default=100, help="documents reranked per query (of BM25's 100)")
    p.add_argument("--loss", default="softmax")
    p.add_argument("--weighting", default="batch-mean")
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--batches", type=int, default=32, help="batches per iteration")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--end-of-curriculum", type=int, default=20)
    p.add_argument("--neg-depth", type=int, default=100)
    p.add_argument("--valid-queries", type=int, default=50, help="train claims held out for early stopping (0: none)")
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--micro-batch", type=int, default=None, help="micro-batch size (gradient accumulation); the "
                   "curriculum's batch-mean weight is taken per micro-batch")
    p.add_argument("--tag", default="", help="suffix of the condition names (e.g. -mb2 for a micro-batch variant)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    ds = load_dataset("scifact")
    bm25 = bm25_run(ds)
    if args.command == "run":
        for seed in args.seeds:
            for condition in args.conditions:
                run_condition(args, ds, bm25, condition, seed)
    print(table(args, ds, bm25))
    return 0


if __name__ == "__main__":
    sys.exit(main())
