"""SciFact: BM25 top-100 reranked by MiniLM cross-encoders trained on SciFact train (505 claims) without a
curriculum and with each difficulty heuristic (MacAvaney et al. 2020; METHODS.md §3).

    # train + rerank some conditions/seeds (each result is written as soon as it completes); the defaults
    # are the paper's (softmax loss, 1 negative, 32 batches x 16 per iteration, 256 tokens, depth 100)
    python experiments/rerank_curricula.py run --conditions none kdescore --seeds 1 2 3
    # the budget that fits 2 CPU cores (about 15 min per model on one thread; the figures in the README):
    # cross-entropy over 1 positive + 3 BM25 negatives, 10 iterations x 8 batches x 16, 128 tokens,
    # curriculum annealed by iteration 5, top 30 reranked
    python experiments/rerank_curricula.py run --max-length 128 --iterations 10 --batches 8 \
        --batch-size 16 --num-negatives 3 --loss cross-entropy --encoder-lr 4e-5 --validate-every 2 \
        --end-of-curriculum 5 --depth 30 --seeds 1 2 3
    # OpenNIR's BERT setting: curriculum weight per micro-batch of 2 (note the '=' before a leading dash)
    python experiments/rerank_curricula.py run --conditions kdescore --micro-batch 2 --tag=-mb2
    # per-sample curriculum weighting (names end in -ps; 'none' is shared with the batch-mean runs)
    python experiments/rerank_curricula.py run --weighting per-sample <the options above>
    # table over everything finished so far: nDCG@10, RR@10, P@1, significance vs BM25 and vs no curriculum;
    # each model also interpolated with BM25 (0.5 z(cross-encoder) + 0.5 z(BM25); --interpolate 0: off)
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

import pandas as pd

from rag.core.cache import Cache, atomic_write_text
from rag.datasets import load_dataset, read_run, write_run
from rag.evaluation.scoring import per_query
from rag.evaluation.significance import significance

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

    tag = "" if condition == "none" else args.tag  # without a curriculum the weighting plays no part
    name = f"{condition}{tag}-s{seed}"
    out = Path(args.out)
    if (out / "done" / f"{name}.json").exists():
        print(f"{name}: already done")
        return
    config = TrainingConfig(output=str(out / "models" / name), dataset="scifact", curriculum=condition, seed=seed,
                            loss=args.loss, iterations=args.iterations, batches_per_iteration=args.batches,
                            batch_size=args.batch_size, max_length=args.max_length,
                            end_of_curriculum=args.end_of_curriculum, valid_queries=args.valid_queries,
                            valid_depth=20, patience=args.patience, run_depth=100, negatives_depth=args.neg_depth,
                            threads=args.threads, micro_batch_size=args.micro_batch,
                            weighting="batch-mean" if condition == "none" else args.weighting,
                            num_negatives=args.num_negatives, encoder_lr=args.encoder_lr,
                            validate_every=args.validate_every)
    t0 = time.perf_counter()
    result = train_reranker(config)
    train_s = time.perf_counter() - t0
    torch.set_num_threads(args.threads)
    t1 = time.perf_counter()
    reranker = CrossEncoderReranker(str(config.output), corpus=ds.corpus, depth=args.depth, keep_rest=True,
                                    max_length=args.max_length, batch_size=32, threads=args.threads)
    reranked = reranker(bm25)
    rerank_s = time.perf_counter() - t1
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_run(reranked, out / "runs" / f"{name}.trec", tag=name)
    values = per_query(reranked, ds.qrels("test"), MEASURES, qids=bm25["qid"].unique())
    means = values.groupby("measure")["value"].mean().to_dict()
    record = {"condition": condition + tag, "seed": seed, "train_seconds": round(train_s, 1),
              "rerank_seconds": round(rerank_s, 1), "peak_memory_mb": result.peak_memory_mb,
              "best_iteration": result.best_iteration, "best_valid": result.best_valid,
              "final_loss": float(result.history["loss"].iloc[-1]), "figures": means,
              "config": config.identity(), "rerank_depth": args.depth, "threads": args.threads}
    atomic_write_text(out / "done" / f"{name}.json", json.dumps(record, indent=2) + "\n")
    print(f"{name}: {means} (train {train_s:.0f} s, rerank {rerank_s:.0f} s)", flush=True)


def interpolated(reranked: pd.DataFrame, bm25: pd.DataFrame, depth: int, weight: float) -> pd.DataFrame:
    """The reranked run's top ``depth`` re-scored as ``(1-w) z(cross-encoder) + w z(BM25)`` (per query);
    the rest of BM25's list stays below in BM25 order."""
    from rag.core.stage import add_ranks
    from rerankers.base import keep_below
    from rerankers.cross_encoder import interpolate_first_stage

    first = bm25[["qid", "docno", "score", "rank"]]
    top = first[first["rank"] < depth].merge(reranked[["qid", "docno", "score"]].rename(columns={"score": "model"}),
                                            on=["qid", "docno"], how="left")
    if top["model"].isna().any():
        raise ValueError("the reranked run lacks some of BM25's top documents; was it reranked to this depth?")
    top = top.assign(score=interpolate_first_stage(top, top["model"].to_numpy(float), weight)).drop(columns=["model"])
    return add_ranks(keep_below(top, first[first["rank"] >= depth]).drop(columns=["rank"]))


def table(args, ds, bm25: pd.DataFrame) -> str:
    out = Path(args.out)
    qrels = ds.qrels("test")
    qids = bm25["qid"].unique()
    frames = [per_query(bm25, qrels, MEASURES, qids=qids).assign(system="BM25")]
    records = [json.loads(p.read_text()) for p in sorted((out / "done").glob("*.json"))]
    by_condition: dict[str, list[dict]] = {}
    interpolated_of: dict[str, list[dict]] = {}
    heuristics = ["none", "reciprank", "normscore", "kdescore"]

    def order(r: dict) -> tuple:
        base = next((h for h in heuristics if r["condition"].startswith(h)), r["condition"])
        return (r["condition"] != "none", r["condition"][len(base):], heuristics.index(base) if base in heuristics
                else len(heuristics), r["seed"])

    for r in sorted(records, key=order):
        by_condition.setdefault(r["condition"], []).append(r)
    for condition, rs in by_condition.items():
        seeds = [per_query(read_run(out / "runs" / f"{condition}-s{r['seed']}.trec"), qrels, MEASURES, qids=qids)
                 for r in rs]
        mean = pd.concat(seeds).groupby(["qid", "measure"], as_index=False)["value"].mean()
        frames.append(mean.assign(system=condition))
        if args.interpolate > 0:
            mixed = [per_query(interpolated(read_run(out / "runs" / f"{condition}-s{r['seed']}.trec"), bm25,
                                            r.get("rerank_depth", args.depth), args.interpolate),
                               qrels, MEASURES, qids=qids) for r in rs]
            mean = pd.concat(mixed).groupby(["qid", "measure"], as_index=False)["value"].mean()
            frames.append(mean.assign(system=f"{condition} + BM25"))
            interpolated_of[f"{condition} + BM25"] = rs
    long = pd.concat(frames, ignore_index=True)
    sig_bm25 = significance(long, "BM25")
    sig_none = significance(long, "none") if "none" in by_condition and len(by_condition) > 1 else None
    mixed_note = (f" 'X + BM25': X's scores interpolated with BM25's over the reranked documents, "
                  f"{1 - args.interpolate:g} z(cross-encoder) + {args.interpolate:g} z(BM25) per query (weight fixed "
                  f"in advance, not tuned on test)." if args.interpolate > 0 else "")
    depths = sorted({r.get("rerank_depth", args.depth) for r in records}) or [args.depth]
    lines = [f"SciFact test (300 claims): BM25 top-100, top {'/'.join(map(str, depths))} reranked (rest kept below). "
             f"Per-query means over seeds; paired t-test, Holm-corrected; † differs from BM25, ‡ differs from "
             f"the same model type without curriculum (p<0.05; the direction is the sign of the difference, "
             f"deltas and p-values in significance.csv).{mixed_note}", "",
             "| system | seeds | " + " | ".join(MEASURES) + " | train s/model | rerank s/model | peak RSS MB |",
             "|---|---|" + "---|" * (len(MEASURES) + 3)]
    mixed_base = "none + BM25" if "none + BM25" in interpolated_of else None
    sig_mixed = significance(long, mixed_base) if mixed_base and len(interpolated_of) > 1 else None
    for system in ["BM25", *by_condition, *interpolated_of]:
        cells = []
        for m in MEASURES:
            v = long[(long.system == system) & (long.measure == m)]["value"].mean()
            mark = ""
            if system != "BM25":
                row = sig_bm25[(sig_bm25.system == system) & (sig_bm25.measure == m)]
                mark += "†" if bool(row["significant"].iloc[0]) else ""
                versus = sig_mixed if system in interpolated_of else sig_none
                base = mixed_base if system in interpolated_of else "none"
                if versus is not None and system != base:
                    row = versus[(versus.system == system) & (versus.measure == m)]
                    mark += "‡" if bool(row["significant"].iloc[0]) else ""
            cells.append(f"{v:.4f}{mark}")
        rs = by_condition.get(system, interpolated_of.get(system, []))
        extra = ["", "", ""] if not rs else [
            f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f}", f"{sum(r['rerank_seconds'] for r in rs) / len(rs):.0f}",
            f"{max(r['peak_memory_mb'] or 0 for r in rs):.0f}"]
        seeds = ",".join(str(r["seed"]) for r in rs) or "-"
        lines.append(f"| {system} | {seeds} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out / "table.md", text)
    sig = pd.concat([sig_bm25.assign(baseline="BM25")]
                    + ([sig_none.assign(baseline="none")] if sig_none is not None else [])
                    + ([sig_mixed.assign(baseline=mixed_base)] if sig_mixed is not None else []))
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
    p.add_argument("--weighting", default="batch-mean", choices=["batch-mean", "per-sample", "normalised"])
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--batches", type=int, default=32, help="batches per iteration")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--num-negatives", type=int, default=1, help="BM25 negatives per positive in a sample")
    p.add_argument("--encoder-lr", type=float, default=2e-5)
    p.add_argument("--validate-every", type=int, default=1, help="iterations between validations")
    p.add_argument("--end-of-curriculum", type=int, default=20)
    p.add_argument("--neg-depth", type=int, default=100)
    p.add_argument("--valid-queries", type=int, default=50, help="train claims held out for early stopping (0: none)")
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--micro-batch", type=int, default=None, help="micro-batch size (gradient accumulation); the "
                   "curriculum's batch-mean weight is taken per micro-batch")
    p.add_argument("--tag", default=None, help="suffix of the curriculum conditions' names (default: none for "
                   "batch-mean, -ps for per-sample, -norm for normalised weighting; e.g. -mb2 for a micro-batch "
                   "variant); 'none' is never suffixed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--interpolate", type=float, default=0.5, help="also report each model interpolated with "
                   "BM25 at this weight (0: don't)")
    args = p.parse_args(argv)
    if args.tag is None:
        args.tag = {"batch-mean": "", "per-sample": "-ps", "normalised": "-norm"}[args.weighting]
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
