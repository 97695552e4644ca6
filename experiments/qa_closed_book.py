"""Closed-book QA with the offline LLM on NQ-open and TriviaQA subsets (issue 6): correctness metrics and
LLM cost.

    python experiments/qa_closed_book.py --n 100 [--datasets nq-open triviaqa] [--llm qwen-0.5b]
        [-o results/qa-closed-book]

Questions are a seeded sample; answers use the reader's ``closed_book`` template (greedy, post-processed);
every call is cached.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.datasets import load_dataset  # noqa: E402
from rag.evaluation.answers import score_answers  # noqa: E402
from rag.readers.reader import Reader  # noqa: E402
from rag.report.tables import markdown_table  # noqa: E402

METRICS = ["EM", "F1", "Recall", "Recall-S", "Recall-S-word", "ROUGE-L", "METEOR"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--datasets", nargs="+", default=["nq-open", "triviaqa"])
    ap.add_argument("--llm", default="qwen-0.5b")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/qa-closed-book")
    args = ap.parse_args()
    from rag.llm import load_llm, usage

    llm = load_llm(args.llm)
    rows = []
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        queries = load_dataset(name).queries().sample(n=args.n, random_state=args.seed).reset_index(drop=True)
        answers = Reader(llm=llm, template="closed_book", max_tokens=args.max_tokens, k=0)(queries)
        scored = score_answers(answers, METRICS)
        scored[["qid", "query", "answer", "answers", *METRICS]].to_json(out / f"{name}.jsonl", orient="records",
                                                                         lines=True, force_ascii=False)
        row = {"dataset": name, "n": len(scored), **{m: scored[m].mean() for m in METRICS},
               "prompt tokens/q": answers["prompt_tokens"].mean(), "completion tokens/q": answers["completion_tokens"].mean(),
               "s/q (uncached)": answers.loc[~answers["cached"], "latency_s"].mean()}
        rows.append(row)
    table = pd.DataFrame(rows)
    text = (f"Closed-book QA, {llm.name}, greedy, seeded samples of {args.n} questions; SQuAD-normalised, max over "
            f"gold answers.\n\n" + markdown_table(table, digits=3))
    (out / "table.md").write_text(text + "\n")
    (out / "usage.json").write_text(json.dumps(usage(), indent=2))
    print(text)


if __name__ == "__main__":
    main()
