"""BM25 speed: ragif's in-process backend against bm25s (numba), and Pyserini where cheap, in one run.

Every system lives in a process of its own (so peak memory is its own) on the same synthetic corpus
(Zipfian vocabulary of pseudo-words, fixed seed). The processes take turns: index builds alternate, then
for every ``k`` and thread count each system searches all queries once per round, round after round, so
that a busy machine slows both alike; the median round is reported. Pyserini is timed after the others, in a
phase of its own: its JVM goes on compiling and collecting on other threads after a search returns, which
would slow the system that runs next.

    python experiments/bench_bm25.py --sizes 20000 100000 200000 --threads 1 2 --rounds 3

Systems: ``ragif`` (the ``FastBM25`` stage: query analysis, search and the result DataFrame),
``ragif-arrays`` (its ``search_arrays``: analysis and search, arrays out; same process as ``ragif``),
``bm25s`` (``bm25s.tokenize`` with PyStemmer's porter and English stop words, then ``retrieve`` with the
numba backend; method "lucene"), ``pyserini`` (``LuceneSearcher.batch_search`` on the index ragif's
``LuceneBM25`` builds; up to ``--lucene-max-docs``). Index time is ragif's postings and scoring tables
(``FastBM25.prepare``) against bm25s's tokenize + index. Peak memory is the process's maximum resident set;
"index MB" is what it grew by after the corpus was made. The table goes to ``--out`` (.md and .json).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KS = (10, 100, 1000)


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
    texts = [" ".join(chunk) for chunk in np.split(words[ids], np.cumsum(doc_len)[:-1])]
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
class Worker:
    """Builds and searches one system; ``handle`` answers one command."""

    def __init__(self, system: str, n_docs: int, n_queries: int, workdir: Path):
        self.system, self.workdir = system, workdir
        self.docs, self.queries = synthetic(n_docs, n_queries)
        self.texts = self.queries["query"].tolist()
        self.builds = 0
        self.warm_up()
        self.data_mb = peak_rss_mb()

    def warm_up(self) -> None:
        """Compile what is compiled on first use (numba), on a tiny corpus, before anything is timed."""
        docs, queries = synthetic(2000, 50, seed=1)
        self.build(docs)
        for threads in (1, 2):
            self.search(queries["query"].tolist(), queries, 10, threads)
        self.model = None

    def build(self, docs) -> None:
        self.builds += 1
        if self.system == "ragif":
            from rag.core.cache import Cache
            from rag.datasets import Corpus
            from retrievers.bm25.fast import FastBM25
            corpus = Corpus(docs, fingerprint=f"synthetic-{len(docs)}-{self.builds}", name="synthetic")
            with Cache(self.workdir / f"ragif-{self.builds}").activate():
                self.model = FastBM25(corpus, k1=0.9, b=0.4)
                self.model.prepare()
        elif self.system == "bm25s":
            import bm25s
            import Stemmer
            self.stemmer = Stemmer.Stemmer("porter")
            self.model = bm25s.BM25(k1=0.9, b=0.4, method="lucene", backend="numba")
            tokens = bm25s.tokenize(docs["text"].tolist(), stopwords="en", stemmer=self.stemmer, show_progress=False)
            self.model.index(tokens, show_progress=False)
        elif self.system == "pyserini":
            from rag.core.cache import Cache
            from rag.datasets import Corpus
            from rag.core import java
            from retrievers.lucene import LuceneBM25
            corpus = Corpus(docs, fingerprint=f"synthetic-{len(docs)}-{self.builds}", name="synthetic")
            with Cache(self.workdir / f"lucene-{self.builds}").activate():
                path = LuceneBM25(corpus, k1=0.9, b=0.4).index_path()
            java.configure()
            with java.placeholder_openai_key():
                from pyserini.search.lucene import LuceneSearcher
            self.model = LuceneSearcher(str(path))
            self.model.set_bm25(0.9, 0.4)
        else:
            raise SystemExit(f"unknown system {self.system!r}")

    def search(self, texts, queries, k: int, threads: int, arrays: bool = False):
        if self.system == "ragif":
            self.model.threads = threads
            if arrays:
                return self.model.search_arrays(texts, k)
            self.model.k = k
            return self.model(queries)  # no cache active: the stage's own work, DataFrame out
        if self.system == "bm25s":
            import bm25s
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
            return self.model.retrieve(tokens, k=k, n_threads=threads, show_progress=False,
                                       backend_selection="numba")
        qids = [str(i) for i in range(len(texts))]
        return self.model.batch_search(texts, qids, k=k, threads=threads)

    def handle(self, command: dict) -> dict:
        if command["cmd"] == "build":
            t0 = time.perf_counter()
            self.build(self.docs)
            return {"index_s": time.perf_counter() - t0, "peak_mb": peak_rss_mb()}
        if command["cmd"] == "search":
            t0 = time.perf_counter()
            self.search(self.texts, self.queries, command["k"], command["threads"], command.get("arrays", False))
            return {"qps": len(self.texts) / (time.perf_counter() - t0)}
        if command["cmd"] == "top10":
            return {"top10": self.top10()}
        return {"peak_mb": peak_rss_mb(), "data_mb": self.data_mb}

    def top10(self) -> list[list[str]]:
        if self.system == "ragif":
            self.model.k = 10
            run = self.model(self.queries)
            by_qid = run.groupby("qid")["docno"].apply(list)
            return [by_qid.get(q, []) for q in self.queries["qid"]]
        if self.system == "bm25s":
            docs, _ = self.search(self.texts, self.queries, 10, 1)
            return [[f"D{i}" for i in row] for row in docs.tolist()]
        hits = self.search(self.texts, self.queries, 10, 1)
        return [[h.docid for h in hits[str(i)]] for i in range(len(self.texts))]


def serve(system: str, n_docs: int, n_queries: int, workdir: Path) -> None:
    worker = Worker(system, n_docs, n_queries, workdir)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        print(json.dumps(worker.handle(command)), flush=True)
        if command["cmd"] == "quit":
            return


class Client:
    def __init__(self, system: str, n_docs: int, args, workdir: Path):
        env = {**os.environ, "RAGIF_PROGRESS": "0", "NUMBA_NUM_THREADS": str(max(args.threads)),
               "RAGIF_CACHE": str(workdir / "default-cache")}
        cmd = [sys.executable, __file__, "--worker", system, "--docs", str(n_docs), "--queries",
               str(args.queries), "--workdir", str(workdir)]
        self.system = system
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.system} worker died (exit {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()


# ---------------------------------------------------------------------- the run
def measure(n_docs: int, args) -> dict:
    systems = ["ragif", "bm25s"] + (["pyserini"] if n_docs <= args.lucene_max_docs else [])
    with tempfile.TemporaryDirectory(prefix="ragif-bench-") as tmp:
        print(f"{n_docs:,} documents: starting {', '.join(systems)}", file=sys.stderr, flush=True)
        clients = {s: Client(s, n_docs, args, Path(tmp) / s) for s in systems}
        result: dict = {"docs": n_docs, "queries": args.queries, "index_s": {}, "qps": {}}
        builds: dict[str, list[float]] = {s: [] for s in systems}
        built_mb = {}
        for _ in range(args.build_rounds):
            for s, client in clients.items():
                answer = client.ask(cmd="build")
                builds[s].append(answer["index_s"])
                built_mb[s] = answer["peak_mb"]
        result["index_s"] = {s: statistics.median(v) for s, v in builds.items()}
        # The in-process systems take turns; Pyserini's JVM keeps compiling and collecting on other threads
        # for a while after a search, which would slow whoever runs next, so it is timed in a phase of its own.
        phases = [[("ragif", False), ("bm25s", False), ("ragif", True)]] + \
            ([[("pyserini", False)]] if "pyserini" in systems else [])
        for runs in phases:
            for threads in args.threads:
                for k in KS:
                    seen: dict[str, list[float]] = {}
                    for _ in range(args.rounds):
                        for s, arrays in runs:
                            name = "ragif-arrays" if arrays else s
                            seen.setdefault(name, []).append(
                                clients[s].ask(cmd="search", k=k, threads=threads, arrays=arrays)["qps"])
                    cell = result["qps"].setdefault(f"k={k},threads={threads}", {})
                    cell.update({n: statistics.median(v) for n, v in seen.items()})
                    print(f"  k={k} threads={threads}: " + ", ".join(f"{n} {statistics.median(v):,.0f} q/s"
                                                                    for n, v in seen.items()), file=sys.stderr,
                          flush=True)
        tops = {s: c.ask(cmd="top10")["top10"] for s, c in clients.items()}
        result["top10_overlap_with_ragif"] = {
            s: sum(len(set(a) & set(b)) for a, b in zip(tops["ragif"], top)) / max(1, sum(map(len, tops["ragif"])))
            for s, top in tops.items() if s != "ragif"}
        result["memory_mb"] = {}
        for s, client in clients.items():
            end = client.ask(cmd="quit")
            result["memory_mb"][s] = {"peak": end["peak_mb"], "corpus": end["data_mb"], "built": built_mb[s],
                                      "index": built_mb[s] - end["data_mb"]}
            client.proc.wait()
    return result


def report(results: list[dict]) -> str:
    lines = ["# BM25: ragif (in-process, Lucene analysis and scores) vs bm25s (numba)", "",
             "Measured in one run, systems interleaved; q/s is the median of the rounds, 1,000 queries.", ""]
    for r in results:
        lines += [f"## {r['docs']:,} documents", "",
                  "| k | threads | ragif q/s (DataFrame) | ragif arrays q/s | bm25s q/s | ratio | ratio arrays |"
                  + (" pyserini q/s |" if any("pyserini" in v for v in r["qps"].values()) else ""),
                  "|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if any("pyserini" in v for v in r["qps"].values()) else "")]
        for key, q in r["qps"].items():
            k, threads = (part.split("=")[1] for part in key.split(","))
            row = (f"| {k} | {threads} | {q['ragif']:,.0f} | {q['ragif-arrays']:,.0f} | {q['bm25s']:,.0f} | "
                   f"x{q['ragif'] / q['bm25s']:.2f} | x{q['ragif-arrays'] / q['bm25s']:.2f} |")
            lines.append(row + (f" {q['pyserini']:,.0f} |" if "pyserini" in q else ""))
        idx, mem = r["index_s"], r["memory_mb"]
        lines += ["", f"Index build: ragif {idx['ragif']:.1f} s, bm25s {idx['bm25s']:.1f} s "
                  f"(x{idx['bm25s'] / idx['ragif']:.2f} faster)" + (f", Lucene {idx['pyserini']:.1f} s" if "pyserini" in idx else "")
                  + f". Memory (peak resident set) once the index is built: ragif {mem['ragif']['built']:,.0f} MB, "
                  f"bm25s {mem['bm25s']['built']:,.0f} MB (x{mem['ragif']['built'] / mem['bm25s']['built']:.2f}), of which the "
                  f"index build added ragif {mem['ragif']['index']:,.0f} MB, bm25s {mem['bm25s']['index']:,.0f} MB "
                  f"(x{mem['ragif']['index'] / max(mem['bm25s']['index'], 1):.2f}); after all searches: ragif "
                  f"{mem['ragif']['peak']:,.0f} MB (the k=1000 DataFrame holds 1M rows), bm25s {mem['bm25s']['peak']:,.0f} MB. "
                  "Top-10 documents in common "
                  f"with ragif: " + ", ".join(f"{s} {v:.1%}" for s, v in r["top10_overlap_with_ragif"].items())
                  + " (bm25s tokenizes and stems differently).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="search rounds per k and thread count")
    parser.add_argument("--build-rounds", type=int, default=1, help="index builds per system")
    parser.add_argument("--lucene-max-docs", type=int, default=20_000, help="also run Pyserini up to this size")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "figures" / "bench_bm25",
                        help="write OUT.md and OUT.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve(args.worker, args.docs, args.queries, args.workdir)
        return
    results = [measure(n, args) for n in args.sizes]
    text = report(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text + "\n", "utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1), "utf-8")


if __name__ == "__main__":
    main()
