"""BM25 speed: ragif-fast and ragif-Lucene against raw Pyserini, bm25s and rank_bm25, in one run.

Every system runs in a fresh subprocess on the same synthetic corpus (Zipfian vocabulary of pseudo-words,
fixed seed), so peak memory is its own. Printed per corpus size: index time, queries/s at k = 10, 100,
1000 (``threads`` search threads for every system that has them) and peak resident memory, with each
figure's ratio to Pyserini. A plot of queries/s (k=100) and index time against corpus size is saved.

    python experiments/bench_bm25.py --sizes 20000 50000 200000 --queries 1000 --plot results/bench_bm25.png

Systems: ``ragif-fast`` (``FastBM25`` stage, DataFrame out), ``ragif-fast-arrays`` (its search arrays,
no DataFrame), ``ragif-lucene`` (``LuceneBM25`` stage), ``pyserini`` (``LuceneSearcher.batch_search`` on
the same Lucene index), ``bm25s`` (method "lucene", numba backend, PyStemmer porter), ``rank_bm25``
(``BM25Okapi.get_scores`` on a few queries; it is pure Python).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEMS = ("ragif-fast", "ragif-fast-arrays", "ragif-lucene", "pyserini", "bm25s", "rank_bm25")
KS = (10, 100, 1000)
PEER = "pyserini"


# ---------------------------------------------------------------------- data
def synthetic(n_docs: int, n_queries: int, seed: int = 0):
    """A corpus of ``n_docs`` documents (about 80 words each, Zipfian) and queries of 3 to 8 words."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    syllables = ["ka", "to", "ri", "men", "sul", "dor", "ph", "ex", "lin", "gra", "vo", "cet", "um", "bri",
                 "zan", "ol", "tre", "mas", "quin", "fe"]
    vocab_size = 60_000
    parts = rng.integers(0, len(syllables), size=(vocab_size, 4))
    lengths = rng.integers(2, 5, size=vocab_size)
    words = np.array(["".join(syllables[p] for p in row[:n]) for row, n in zip(parts, lengths)], dtype=object)
    weights = 1.0 / np.arange(1, vocab_size + 1) ** 1.07
    weights /= weights.sum()
    doc_len = np.clip(rng.lognormal(4.2, 0.5, size=n_docs).astype(int), 5, 600)
    ids = rng.choice(vocab_size, size=int(doc_len.sum()), p=weights)
    cuts = np.cumsum(doc_len)[:-1]
    texts = [" ".join(chunk) for chunk in np.split(words[ids], cuts)]
    docs = pd.DataFrame({"docno": [f"D{i}" for i in range(n_docs)], "title": "", "text": texts})
    q_weights = 1.0 / np.arange(1, vocab_size + 1) ** 0.8  # queries favour rarer words than documents
    q_weights /= q_weights.sum()
    q_len = rng.integers(3, 9, size=n_queries)
    q_ids = rng.choice(vocab_size, size=int(q_len.sum()), p=q_weights)
    q_texts = [" ".join(chunk) for chunk in np.split(words[q_ids], np.cumsum(q_len)[:-1])]
    queries = pd.DataFrame({"qid": [f"Q{i}" for i in range(n_queries)], "query": q_texts})
    return docs, queries


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- one system, in its own process
def worker(system: str, n_docs: int, n_queries: int, threads: int, workdir: Path) -> dict:
    docs, queries = synthetic(n_docs, n_queries)
    base_mb = peak_rss_mb()
    texts, qids = queries["query"].tolist(), queries["qid"].tolist()
    out: dict = {"system": system, "docs": n_docs, "queries": n_queries, "threads": threads}

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    if system.startswith("ragif"):
        from rag.core.cache import Cache
        from rag.datasets import Corpus
        corpus = Corpus(docs, fingerprint=f"synthetic-{n_docs}", name="synthetic")
        cache = Cache(workdir / system)
        with cache.activate():
            if system.startswith("ragif-fast"):
                from retrievers.fast_bm25 import FastBM25
                stage = FastBM25(corpus, k1=0.9, b=0.4, threads=threads)
                out["index_s"] = timed(lambda: (stage.index(), stage.impacts()))
                stage.search_arrays(texts[:200], 10)  # compile the kernel (cached on disk by numba)
                for k in KS:
                    if system == "ragif-fast-arrays":
                        out[f"qps@{k}"] = n_queries / timed(lambda: stage.search_arrays(texts, k))
                    else:
                        stage.k = k
                        out[f"qps@{k}"] = n_queries / timed(lambda: stage(queries))
            else:
                from retrievers.lucene import LuceneBM25
                stage = LuceneBM25(corpus, k1=0.9, b=0.4, threads=threads)
                out["index_s"] = timed(stage.searcher)
                (workdir / "lucene-index.txt").write_text(str(stage.index_path()))
                stage.k = 10
                stage(queries.head(200))
                for k in KS:
                    stage.k = k
                    out[f"qps@{k}"] = n_queries / timed(lambda: stage(queries))
    elif system == "pyserini":
        from retrievers import java
        index = (workdir / "lucene-index.txt").read_text()
        java.configure()
        with java.placeholder_openai_key():
            from pyserini.search.lucene import LuceneSearcher
        searcher = LuceneSearcher(index)
        searcher.set_bm25(0.9, 0.4)
        searcher.batch_search(texts[:200], qids[:200], k=10, threads=threads)
        for k in KS:
            out[f"qps@{k}"] = n_queries / timed(lambda: searcher.batch_search(texts, qids, k=k, threads=threads))
    elif system == "bm25s":
        import bm25s
        import Stemmer
        stemmer = Stemmer.Stemmer("porter")
        model = bm25s.BM25(k1=0.9, b=0.4, method="lucene", backend="numba")

        def index():
            tokens = bm25s.tokenize(docs["text"].tolist(), stopwords="en", stemmer=stemmer, show_progress=False)
            model.index(tokens, show_progress=False)
        out["index_s"] = timed(index)

        def search(k):
            q = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
            model.retrieve(q, k=k, n_threads=threads, show_progress=False, backend_selection="numba")
        search(10)
        for k in KS:
            out[f"qps@{k}"] = n_queries / timed(lambda: search(k))
    elif system == "rank_bm25":
        import numpy as np
        from rank_bm25 import BM25Okapi
        holder = {}
        out["index_s"] = timed(lambda: holder.setdefault("m", BM25Okapi([t.lower().split() for t in docs["text"]],
                                                                        k1=0.9, b=0.4)))
        few = texts[:20]

        def search(k):
            for t in few:
                scores = holder["m"].get_scores(t.lower().split())
                np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        for k in KS:
            out[f"qps@{k}"] = len(few) / timed(lambda: search(k))
        out["note"] = f"{len(few)} queries, one thread"
    else:
        raise SystemExit(f"unknown system {system!r}")
    out["peak_mb"] = peak_rss_mb()
    out["data_mb"] = base_mb
    return out


def run_worker(system: str, n_docs: int, args, workdir: Path) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", system, "--docs", str(n_docs), "--queries", str(args.queries),
           "--threads", str(args.threads), "--workdir", str(workdir)]
    env = {**os.environ, "RAGIF_PROGRESS": "0", "NUMBA_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        print(f"  {system} at {n_docs} docs failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(line)


def report(rows: list[dict]) -> str:
    import pandas as pd

    table = pd.DataFrame(rows)
    lines = []
    for n_docs, group in table.groupby("docs", sort=True):
        lines.append(f"\n## {n_docs:,} documents, {group['queries'].iloc[0]:,} queries, "
                     f"{group['threads'].iloc[0]} threads (ratios against {PEER}, measured in this run)")
        peer = group.set_index("system").reindex([PEER]).iloc[0]
        lucene = group.set_index("system").reindex(["ragif-lucene"]).iloc[0]
        header = "| system | index s | " + " | ".join(f"q/s k={k} (x{PEER})" for k in KS) + " | peak MB |"
        lines += [header, "|---|---:|" + "---:|" * len(KS) + "---:|"]
        for _, row in group.iterrows():
            index_s = row.get("index_s")
            ref_index = peer.get("index_s") if pd.notna(peer.get("index_s", float("nan"))) else lucene.get("index_s")
            cells = [f"{index_s:.1f} (x{ref_index / index_s:.2f})" if pd.notna(index_s) and pd.notna(ref_index)
                     else "-"]
            for k in KS:
                q = row.get(f"qps@{k}")
                ref = peer.get(f"qps@{k}")
                cells.append(f"{q:,.0f} (x{q / ref:.2f})" if pd.notna(q) and pd.notna(ref) and ref else
                             (f"{q:,.1f}" if pd.notna(q) else "-"))
            note = f" ({row['note']})" if isinstance(row.get("note"), str) else ""
            lines.append(f"| {row['system']}{note} | " + " | ".join(cells) + f" | {row['peak_mb']:,.0f} |")
        lines.append("index-time ratios are against ragif-lucene's Anserini indexing (pyserini searches that index)")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    table = pd.DataFrame(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(SYSTEMS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for system, group in table.groupby("system"):
        group = group.sort_values("docs")
        style = {"marker": "o", "label": system, "color": colours.get(system)}
        if group["qps@100"].notna().any():
            left.plot(group["docs"], group["qps@100"], **style)
        if system != "ragif-fast-arrays" and "index_s" in group and group["index_s"].notna().any():
            right.plot(group["docs"], group["index_s"], **style)  # the same index as ragif-fast
    left.set(xscale="log", yscale="log", xlabel="documents", ylabel="queries/s (k=100)", title="BM25 search")
    right.set(xscale="log", yscale="log", xlabel="documents", ylabel="seconds", title="BM25 index build")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000, 200_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--rank-bm25-max-docs", type=int, default=20_000,
                        help="skip rank_bm25 above this size (it needs minutes)")
    parser.add_argument("--plot", type=Path, default=ROOT / "results" / "bench_bm25.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures here")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of other sizes already in --json (re-measure some sizes only)")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.docs, args.queries, args.threads, args.workdir)))
        return
    rows = []
    for n_docs in args.sizes:
        with tempfile.TemporaryDirectory(prefix="ragif-bench-") as tmp:
            systems = [s for s in args.systems if s != "rank_bm25" or n_docs <= args.rank_bm25_max_docs]
            if "pyserini" in systems and "ragif-lucene" not in systems:
                systems.insert(0, "ragif-lucene")  # pyserini searches the index ragif-lucene builds
            systems.sort(key=lambda s: s != "ragif-lucene")
            for system in systems:
                print(f"running {system} on {n_docs:,} documents ...", file=sys.stderr, flush=True)
                row = run_worker(system, n_docs, args, Path(tmp))
                if row:
                    rows.append(row)
    if args.update and args.json and args.json.exists():
        measured = {(r["system"], r["docs"]) for r in rows}
        rows = [r for r in json.loads(args.json.read_text()) if (r["system"], r["docs"]) not in measured] + rows
    print(report(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot and rows:
        plot(rows, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
