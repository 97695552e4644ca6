"""Adaptive retrieval on PopQA long-tail: always / never / popularity / confidence / oracle routing.

One command (offline; answers and signals are cached, so a re-run or a larger ``--n`` reuses them):

    RAGIF_DATA=../shared/data python experiments/popqa_adaptive.py --n 300 --out results/popqa_adaptive
    # NQ-open over its gold-passage corpus + distractors (no popularity: the popularity policy is left out)
    RAGIF_DATA=../shared/data python experiments/popqa_adaptive.py --dataset nq-rag --n 100 --out results/nq_adaptive

Steps: a seeded sample of ``n`` questions; closed-book answers and BM25 top-1 retrieval-augmented
answers (Lucene BM25 over the line-aligned evidence corpus) by the LLM; confidence signals about the
closed-book answer; correctness under PopQA's rule (a gold alias contained in the answer); then every
policy is fitted on 75% and scored on 25% of the questions, over ``--boots`` bootstrap splits (seed 633,
Mallen et al.'s procedure). ``--minutes`` stops answering new questions after that long and evaluates
what was answered (the printed n says how many).
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
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from rag.adaptive import (AlwaysRetrieve, ConfidenceThreshold, NeverRetrieve, Oracle, PopularityThreshold,
                          abstention_curve, add_correctness, bootstrap_policies, outcome_table, signal_report)
from rag.readers.reader import ShortAnswerer
from rag.adaptive.signals import (SIGNAL_COST_COLUMNS, AnswerConfidence, RTuningConfidence, SelfJudge,
                                  SureProbability)
from rag.report.tables import markdown_table
from rag.core.cache import Cache
from rag.datasets import load_dataset
from rag.core.stage import RankCutoff
from retrievers.lucene import LuceneBM25
from retrievers.text import AddText



def answer_questions(queries: pd.DataFrame, llm, corpus, chunk: int, minutes: float | None,
                     signals: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Closed-book answers (+ signals) and BM25 top-1 answers, chunk by chunk (each chunk cached)."""
    reader, rag_reader = ShortAnswerer(llm=llm), ShortAnswerer(llm=llm, passages=1)
    retrieve = LuceneBM25(corpus, threads=1) >> RankCutoff(1) >> AddText(corpus)
    judge = AnswerConfidence()
    if signals:
        judge = judge >> SureProbability(llm=llm) >> SelfJudge(llm=llm) >> RTuningConfidence()
    closed, opened = [], []
    start = time.time()
    for at in range(0, len(queries), chunk):
        if minutes is not None and time.time() - start > minutes * 60:
            print(f"time budget reached after {at} questions", flush=True)
            break
        part = queries.iloc[at:at + chunk].reset_index(drop=True)
        t0 = time.time()
        closed.append(judge(reader(part)))
        opened.append(rag_reader(retrieve(part)))
        print(f"{at + len(part)}/{len(queries)} questions, {time.time() - t0:.1f}s for this chunk", flush=True)
    return pd.concat(closed, ignore_index=True), pd.concat(opened, ignore_index=True)


DATASETS = {"popqa-longtail": "PopQA long-tail", "nq-rag": "NQ-open (gold passages + distractors)"}


def policies(signal_columns: list[str], outcomes: pd.DataFrame) -> dict:
    out = {"never retrieve": NeverRetrieve(), "always retrieve": AlwaysRetrieve()}
    if "s_pop" in outcomes.columns:
        out["popularity (Mallen)"] = PopularityThreshold()
    for signal in signal_columns:
        cost = SIGNAL_COST_COLUMNS[signal]
        cost = cost if cost and outcomes[cost].notna().all() else None
        out[f"confidence: {signal}"] = ConfidenceThreshold(signal=signal, cost_column=cost)
    out["oracle"] = Oracle()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATASETS), default="popqa-longtail")
    ap.add_argument("--n", type=int, default=300, help="questions (seeded sample; 0 = all 1,399)")
    ap.add_argument("--llm", default="qwen-0.5b", help="rag.llm spec name (default: offline Qwen GGUF)")
    ap.add_argument("--boots", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    ap.add_argument("--chunk", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=None, help="stop answering new questions after this")
    ap.add_argument("--no-signals", action="store_true", help="skip P(sure) and Self-J (2 LLM calls each)")
    ap.add_argument("--out", default="results/popqa_adaptive")
    args = ap.parse_args(argv)

    ds = load_dataset(args.dataset)
    label = DATASETS[args.dataset]
    queries = ds.queries("test")
    if "s_pop" in queries.columns:
        queries = queries[queries["s_pop"] > 0]
    order = np.random.RandomState(args.seed).permutation(len(queries))
    if args.n:
        order = order[: args.n]
    queries = queries.iloc[order].reset_index(drop=True)

    from rag.llm import load_llm
    llm = load_llm(args.llm)
    t0 = time.time()
    with Cache().activate():
        closed, opened = answer_questions(queries, llm, ds.corpus, args.chunk, args.minutes, not args.no_signals)
    answer_s = time.time() - t0
    closed = add_correctness(closed)
    opened = add_correctness(opened)
    answered = queries[queries["qid"].isin(closed["qid"])]
    signal_columns = [s for s in SIGNAL_COST_COLUMNS if s in closed.columns]
    keep = ["qid", *signal_columns, *[c for c in closed.columns if c.startswith("tokens_")]]
    outcomes = outcome_table(answered, closed, opened).merge(closed[keep], on="qid")

    summary, per_boot = bootstrap_policies(outcomes, policies(signal_columns, outcomes), n_boot=args.boots)
    signals = signal_report(outcomes, signal_columns)
    curves = pd.concat([abstention_curve(outcomes[s], outcomes["correct_recall"]).assign(signal=s)
                        for s in signal_columns], ignore_index=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes.drop(columns=["answers"]).to_csv(out / "outcomes.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    from rag.report.plots import tradeoff
    tradeoff(summary, "retrieval_rate", "accuracy", out / "accuracy_vs_retrieval", label="policy", err="accuracy_sd",
             title=f"{label}: accuracy vs retrieval rate ({len(outcomes)} questions)")
    per_boot.to_csv(out / "per_boot.csv", index=False)
    signals.to_csv(out / "signals.csv", index=False)
    curves.to_csv(out / "abstention.csv", index=False)
    info = {"n_questions": len(outcomes), "llm": getattr(llm, "name", args.llm), "boots": args.boots,
            "answer_seconds": round(answer_s, 1), "seconds_per_question": round(answer_s / max(len(outcomes), 1), 2),
            "closed_book_accuracy_all": float(outcomes["correct_recall"].mean()),
            "bm25_top1_accuracy_all": float(outcomes["correct_retrieve"].mean()),
            "command": " ".join(["python", "experiments/popqa_adaptive.py", *(argv or sys.argv[1:])])}
    (out / "run.json").write_text(json.dumps(info, indent=2))
    table = summary.assign(accuracy=lambda d: d.apply(
        lambda r: f"{r.accuracy:.3f} ± {r.accuracy_sd:.3f}", axis=1))[
        ["policy", "accuracy", "retrieval_rate", "llm_tokens", "n_test", "n_boot"]]
    text = (f"{label}, n={len(outcomes)} questions, {args.boots} bootstrap 75/25 splits "
            f"(test accuracy mean ± sd)\n\n{markdown_table(table)}\n\n"
            f"Confidence signals (AP for closed-book correctness)\n\n{markdown_table(signals)}\n")
    (out / "table.md").write_text(text)
    print(json.dumps(info, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
