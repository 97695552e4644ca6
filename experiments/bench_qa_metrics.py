"""Benchmark: token-overlap answer metrics on 10,000 responses (responses/s).

Peer: a plain reference implementation written the obvious way (normalise each string with the SQuAD
function, Counter intersection per pair, Python max over golds), measured in the same run on the same
data; the two must agree exactly. Data: NQ questions/answers of ../shared/data/nq-rag; each response
is a slice of the question's gold passage (varied length), the evidence is the gold passage plus a
distractor, as in a k=2 retrieval prompt.

    python experiments/bench_qa_metrics.py [--n 10000]
"""
from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import numpy as np

from rag.datasets import load_dataset
from rag.evaluation.answers import correctness_scores, faithfulness_scores
from rag.evaluation.answers.overlap import reference_correctness
from rag.evaluation.answers.text import answer_tokens


def plain_faithfulness(response: str, evidence: str, question: str) -> dict[str, float]:
    pred, ev, q = answer_tokens(response), answer_tokens(evidence), set(answer_tokens(question))

    def prf(p: list[str]) -> tuple[float, float, float]:
        common = sum((Counter(p) & Counter(ev)).values())
        prec = common / len(p) if p and common else 0.0
        rec = 1.0 if not ev else (common / len(ev) if common else 0.0)
        if not p or not ev:
            f1 = float(p == ev)
        else:
            f1 = 0.0 if common == 0 else 2 * (common / len(p)) * (common / len(ev)) / (common / len(p) + common / len(ev))
        return prec, rec, f1

    out = dict(zip(("K-Precision", "K-Recall", "K-F1"), prf(pred)))
    kept = [t for t in pred if t not in q]
    plus = (1.0, 1.0, 1.0) if not kept else prf(kept)
    out.update(zip(("K-Precision++", "K-Recall++", "K-F1++"), plus))
    return out


def build(n: int, seed: int = 0):
    ds = load_dataset("nq-rag")
    queries = ds.queries("test")
    docs = ds.corpus.frame().set_index("docno")
    rng = random.Random(seed)
    dis = [t for d, t in docs["text"].items() if str(d).startswith("dis-")]
    rows = queries.sample(n=n, replace=n > len(queries), random_state=seed).to_dict("records")
    responses, golds, evidence, questions = [], [], [], []
    for r in rows:
        words = str(docs.loc[r["gold_docno"], "text"]).split()
        start = rng.randint(0, max(0, len(words) - 5))
        responses.append(" ".join(words[start:start + rng.randint(1, 60)]))
        golds.append(list(r["answers"]))
        evidence.append(str(docs.loc[r["gold_docno"], "text"]) + " " + rng.choice(dis))
        questions.append(r["query"])
    return responses, golds, evidence, questions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    n = ap.parse_args().n
    responses, golds, evidence, questions = build(n)

    t0 = time.perf_counter()
    fast_c = correctness_scores(responses, golds)
    fast_f = faithfulness_scores(responses, evidence, questions)
    t_fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain_c = [reference_correctness(r, g) for r, g in zip(responses, golds)]
    plain_f = [plain_faithfulness(r, e, q) for r, e, q in zip(responses, evidence, questions)]
    t_plain = time.perf_counter() - t0

    for name in fast_c.columns:
        assert np.allclose(fast_c[name].to_numpy(), [p[name] for p in plain_c]), name
    for name in fast_f.columns:
        assert np.allclose(fast_f[name].to_numpy(), [p[name] for p in plain_f]), name
    print(f"{n} responses, 12 metrics (EM F1 Precision Recall Recall-S Recall-S-word, K-P/R/F1 and ++), "
          f"{sum(map(len, golds))} gold answers, mean evidence {np.mean([len(e.split()) for e in evidence]):.0f} words")
    print(f"ragif vectorised : {t_fast:7.2f} s  {n / t_fast:9.0f} responses/s")
    print(f"plain reference  : {t_plain:7.2f} s  {n / t_plain:9.0f} responses/s")
    print(f"speed-up         : {t_plain / t_fast:.1f}x (identical values on all {n} responses)")


if __name__ == "__main__":
    main()
