"""Utility judgments on NQ with gold passages (issue 5): for each question its gold passage mixed with BM25
distractors (answer-free top hits), judged by each method with an LLM; set P/R/F1 against the gold passage,
unparsable replies, tokens and seconds per question.

    python experiments/utility_judges.py --n 30 --candidates 4 [--methods pointwise listwise-set k-sampling]
        [--k 3] [--llm qwen-0.5b] [-o results/utility-judges]

The gold passage's position in the list is drawn at random per question (seeded). Every LLM call is cached.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.datasets import load_dataset  # noqa: E402
from rag.judges import METHODS, set_prf  # noqa: E402
from rag.report.tables import markdown_table  # noqa: E402


def candidate_lists(n: int, size: int, seed: int) -> list[dict]:
    from retrievers.lucene import LuceneBM25

    data = load_dataset("nq-rag")
    queries = data.queries().sample(n=n, random_state=seed).reset_index(drop=True)
    run = LuceneBM25(data.corpus, k=20)(queries[["qid", "query"]])
    texts = data.corpus.frame().set_index("docno")
    rng = random.Random(seed)
    items = []
    for q in queries.itertuples():
        distractors = [d for d in run[run["qid"] == q.qid]["docno"] if d != q.gold_docno][: size - 1]
        docs = list(distractors)
        gold_at = rng.randrange(len(docs) + 1)
        docs.insert(gold_at, q.gold_docno)
        passages = [f"{texts.at[d, 'title']}: {texts.at[d, 'text']}" for d in docs]
        items.append({"qid": q.qid, "question": q.query, "passages": passages, "gold": [gold_at]})
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--candidates", type=int, default=4, help="passages per question (gold + distractors)")
    ap.add_argument("--methods", nargs="+", default=["pointwise", "listwise-set", "k-sampling"])
    ap.add_argument("--k", type=int, default=3, help="k-sampling samples (the paper's value is unverified)")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--llm", default="qwen-0.5b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/utility-judges")
    args = ap.parse_args()
    from rag.llm import load_llm

    llm = load_llm(args.llm)
    items = candidate_lists(args.n, args.candidates, args.seed)
    rows, per_question = [], []
    for method in args.methods:
        started = time.perf_counter()
        stats = []
        for item in items:
            kwargs = {"max_tokens": args.max_tokens}
            if method == "k-sampling":
                kwargs.update(k=args.k, seed=args.seed)
            j = METHODS[method](llm, item["question"], item["passages"], **kwargs)
            p, r, f = set_prf(j.selected, item["gold"])
            stats.append({"method": method, "qid": item["qid"], "P": p, "R": r, "F1": f, "selected": len(j.selected),
                          "unparsable": j.unparsable, "calls": j.calls, "prompt_tokens": j.prompt_tokens,
                          "completion_tokens": j.completion_tokens, "llm_seconds": j.seconds})
        frame = pd.DataFrame(stats)
        per_question.append(frame)
        mean_p, mean_r = frame["P"].mean(), frame["R"].mean()
        rows.append({"method": method + (f" (k={args.k}, majority)" if method == "k-sampling" else ""),
                     "n": len(frame), "P": mean_p, "R": mean_r, "F1": frame["F1"].mean(),
                     "F1 of mean P,R": 2 * mean_p * mean_r / (mean_p + mean_r) if mean_p + mean_r else 0.0,
                     "selected/q": frame["selected"].mean(), "unparsable": int(frame["unparsable"].sum()),
                     "tokens/q": (frame["prompt_tokens"] + frame["completion_tokens"]).mean(),
                     "LLM s/q": frame["llm_seconds"].mean(), "wall s": time.perf_counter() - started})
    table = pd.DataFrame(rows)
    chance = 1 / args.candidates
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(per_question).to_csv(out / "per_question.csv", index=False)
    table.to_csv(out / "judges.csv", index=False, float_format="%.4f")
    text = (f"Utility judgments, NQ gold passage + {args.candidates - 1} BM25 distractors, {len(items)} questions, "
            f"LLM {llm.name} (greedy). A judge selecting everything scores P={chance:.2f}, R=1.\n\n"
            + markdown_table(table, digits=3))
    (out / "judges.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
