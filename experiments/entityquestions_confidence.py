"""Confidence signals on EntityQuestions (no popularity, no evidence corpus): how well does each signal
predict that the closed-book answer is right (AP), and selective accuracy when abstaining.

    RAGIF_DATA=../shared/data python experiments/entityquestions_confidence.py --per-relation 10

Signals: answer token probability, P(sure) after R-Tuning's question, Self-J expected score, and the
R-Tuning mix. Correctness: a gold answer contained in the prediction (the PopQA rule). Without a
retrieval corpus, only abstention (not routing) is evaluated here. Everything is cached.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


import pandas as pd

from rag.adaptive import abstention_curve, add_correctness, signal_report
from rag.readers.reader import ShortAnswerer
from rag.adaptive.signals import (SIGNAL_COST_COLUMNS, AnswerConfidence, RTuningConfidence, SelfJudge,
                                  SureProbability)
from rag.report.tables import markdown_table
from rag.core.cache import Cache
from rag.datasets import load_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-relation", type=int, default=10, help="questions sampled per relation")
    ap.add_argument("--llm", default="qwen-0.5b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/entityquestions_confidence")
    args = ap.parse_args(argv)

    queries = load_dataset("entityquestions").queries("test")
    shuffled = queries.sample(frac=1.0, random_state=args.seed)
    queries = shuffled.groupby("relation", sort=True).head(args.per_relation).reset_index(drop=True)
    from rag.llm import load_llm
    llm = load_llm(args.llm)
    pipeline = (ShortAnswerer(llm=llm) >> AnswerConfidence() >> SureProbability(llm=llm) >> SelfJudge(llm=llm)
                >> RTuningConfidence())
    t0 = time.time()
    with Cache().activate():
        parts = [pipeline(queries.iloc[i:i + 20].reset_index(drop=True)) for i in range(0, len(queries), 20)]
    answers = add_correctness(pd.concat(parts, ignore_index=True))
    seconds = time.time() - t0
    signals = list(SIGNAL_COST_COLUMNS)
    report = signal_report(answers.rename(columns={"correct": "correct_recall"}), signals)
    curves = pd.concat([abstention_curve(answers[s], answers["correct"]).assign(signal=s) for s in signals],
                       ignore_index=True)
    by_relation = answers.groupby("relation")["correct"].mean().rename("closed_book_accuracy").reset_index()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    answers.drop(columns=["answers"]).to_csv(out / "answers.csv", index=False)
    report.to_csv(out / "signals.csv", index=False)
    by_relation.to_csv(out / "by_relation.csv", index=False)
    curves.to_csv(out / "abstention.csv", index=False)
    info = {"n_questions": len(answers), "llm": getattr(llm, "name", args.llm), "seconds": round(seconds, 1),
            "closed_book_accuracy": float(answers["correct"].mean()),
            "command": " ".join(["python", "experiments/entityquestions_confidence.py", *(argv or sys.argv[1:])])}
    (out / "run.json").write_text(json.dumps(info, indent=2))
    text = (f"EntityQuestions, n={len(answers)} ({args.per_relation} per relation)\n\n{markdown_table(report)}\n\n"
            f"Selective accuracy (answer the most confident fraction)\n\n"
            f"{markdown_table(curves.pivot(index='coverage', columns='signal', values='accuracy').reset_index())}\n")
    (out / "table.md").write_text(text)
    print(json.dumps(info, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
