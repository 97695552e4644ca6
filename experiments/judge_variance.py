"""Judge variance (METHODS.md §17): score saved answers with an LLM judge K times and report the mean with its
bootstrap interval across questions, the standard error and the share of the variance that is judge noise.

    python experiments/judge_variance.py results/judges-nq-rag/runs/BM25_→_reader.jsonl \
        --measure TICK --samples 3 --temperature 0.7 --limit 30 [--llm qwen-0.5b]

Any generating judge measure works: TICK, LLM-Eval-sampled, LLM-Critic-sampled. The judge calls are cached
(RAGIF_CACHE), so a re-run is free. Prints one line per measure.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


from rag.evaluation.judged.variance import judge_spread  # noqa: E402
from rag.evaluation.measures import parse_measure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("answers", help="a saved answers run (runs/<system>.jsonl) or any JSONL with qid, query, answer")
    parser.add_argument("--measure", action="append", default=None, help="TICK, LLM-Eval-sampled, ... (repeatable)")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--limit", type=int, default=None, help="the first N questions")
    parser.add_argument("--llm", default=None, help="the judge (default: the offline qwen-0.5b)")
    parser.add_argument("--boot", type=int, default=1000)
    args = parser.parse_args(argv)
    table = pd.read_json(args.answers, lines=True, dtype={"qid": str})
    if args.limit:
        table = table.head(args.limit)
    for name in args.measure or ["TICK"]:
        params = f"samples={args.samples}, temperature={args.temperature}" + (f", llm='{args.llm}'" if args.llm else "")
        measure = parse_measure(f"{name}({params})")
        spread = judge_spread(measure.sample_scores(measure.answers_table(table)), n_boot=args.boot)
        print(f"{name} ({measure.provenance()['judge']}, {Path(args.answers).name}): {spread}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
