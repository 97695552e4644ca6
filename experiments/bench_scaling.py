"""Scale-out on Ray: sharded work on a one-node vs a two-node cluster, same inputs, runs interleaved.

    sudo python experiments/bench_scaling.py [--docs 1500] [--queries 3000] [--vectors 200000] [--rounds 2]

The cluster is real: one Ray node (1 CPU) per network namespace, joined by a veth pair
(``experiments/namespace_cluster.py``; needs root and iproute2). Each round measures on one node, adds the second
node, measures on two, and removes it again. Workloads, each cut into ``--shards`` shards:

- encode: all-MiniLM-L6-v2 embeddings of ``--docs`` SciFact abstracts (``rag.core.executor.encode_in_shards``);
- bm25:   ``--queries`` SciFact titles as queries, Lucene BM25 top-100, sharded by query (``Sharded``);
- faiss:  exact inner-product top-100 of 1,000 queries over ``--vectors`` random 384-d vectors, the index
          cut by rows (``retrievers.sharded_faiss``).

Inside each measurement every worker is warmed up first (model loaded, JVM started) on a small slice, so
the figures compare computing, not start-up. The same work in one process without Ray ("local") is timed
too. On two nodes of one CPU each the ceiling is x2.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM, TOP = 384, 100


def encode_minilm(texts: list[str]) -> np.ndarray:
    from retrievers import encoders
    from retrievers.st_encoder import SentenceTransformerEncoder

    return encoders.encode(SentenceTransformerEncoder("all-MiniLM-L6-v2", "cpu", threads=1), texts, 32, True)


def prepare(work: Path, docs: int, queries: int, vectors: int) -> None:
    """Inputs on the shared file system: texts, queries, random embeddings."""
    from rag.datasets import load_dataset
    from retrievers.embeddings import write_embeddings

    frame = load_dataset("scifact").corpus.frame()
    texts = [f"{t} {x}" if t else x for t, x in zip(frame["title"], frame["text"])]
    titles = [t for t in frame["title"] if t]
    (work / "inputs.json").write_text(json.dumps({"texts": texts[:docs], "queries": (titles * 4)[:queries]}))
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(vectors, DIM)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    (work / "vectors").mkdir()
    write_embeddings(work / "vectors", [f"d{i}" for i in range(vectors)], matrix, {"model": "random"})
    np.save(work / "vector-queries.npy", rng.normal(size=(1000, DIM)).astype(np.float32))


def drive(work: Path, executor: str, shards: int, out: Path) -> None:
    """One measurement (run as the Ray driver): warm every worker up, then time each workload."""
    import pandas as pd

    from rag.core.cache import Cache
    from rag.core.executor import Sharded, encode_in_shards, shard_log
    from rag.datasets import load_dataset
    from retrievers.lucene import LuceneBM25
    from retrievers.sharded_faiss import sharded_search
    from retrievers.vector_index import index_type

    inputs = json.loads((work / "inputs.json").read_text())
    corpus = load_dataset("scifact").corpus
    frame = pd.DataFrame({"qid": [f"q{i}" for i in range(len(inputs["queries"]))], "query": inputs["queries"]})
    vector_queries = np.load(work / "vector-queries.npy")
    n_vectors = np.load(work / "vectors" / "embeddings.npy", mmap_mode="r").shape[0]
    spec = index_type("flat")
    bm25 = Sharded(LuceneBM25(corpus, k=TOP, threads=1), shards=shards, executor=executor)
    with Cache(work / "cache").activate():
        bm25.stage.index_path()  # the index is built once, before any timing
        workloads = {
            "encode": (lambda n: encode_in_shards(encode_minilm, inputs["texts"][:n], shards, executor)),
            "bm25": (lambda n: bm25.transform(frame.head(n))),
            "faiss": (lambda n: sharded_search(work / "vectors" / "embeddings.npy", n_vectors, vector_queries[:n], TOP, spec, shards,
                                               executor)),
        }
        times, nodes, shard_seconds = {}, {}, {}
        for name, run in workloads.items():
            run(4 * shards)  # warm-up: every worker loads what it needs
            with shard_log() as runs:
                t0 = time.perf_counter()
                run(10 ** 9)
                times[name] = time.perf_counter() - t0
            nodes[name] = sorted({r.node for r in runs})
            shard_seconds[name] = [[r.node, round(r.seconds, 2)] for r in runs]
    out.write_text(json.dumps({"times": times, "nodes": nodes, "shards": shard_seconds, "load": os.getloadavg()}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drive", nargs=3, metavar=("WORK", "EXECUTOR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        drive(Path(args.drive[0]), args.drive[1], args.shards, Path(args.drive[2]))
        return
    from namespace_cluster import NamespaceCluster, namespaces_unavailable

    reason = namespaces_unavailable()
    if reason:
        sys.exit(f"bench_scaling: {reason}")
    work = Path(tempfile.mkdtemp(prefix="ragif-scaling-"))
    work.chmod(0o755)
    prepare(work, args.docs, args.queries, args.vectors)
    me = [sys.executable, str(Path(__file__).resolve()), "--shards", str(args.shards), "--drive", str(work)]
    results: dict[str, list[dict]] = {"local": [], "1 node": [], "2 nodes": []}

    def measure(label: str, cluster: NamespaceCluster | None) -> None:
        out = work / f"{label.replace(' ', '-')}-{len(results[label])}.json"
        argv = [*me, "local" if cluster is None else "ray", str(out)]
        done = (cluster.driver(argv, timeout=1800) if cluster
                else subprocess.run(argv, capture_output=True, text=True, timeout=1800))
        if done.returncode != 0:
            sys.exit(f"bench_scaling: the {label} run failed:\n{done.stderr[-3000:]}")
        results[label].append(json.loads(out.read_text()))
        last = results[label][-1]
        print(f"  {label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in last["times"].items())
              + f" (load average {last['load'][0]:.1f}; seconds per shard: {last['shards']})", flush=True)

    try:
        with NamespaceCluster(work / "cluster", nodes=1) as cluster:
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}/{args.rounds}", flush=True)
                measure("local", None)
                measure("1 node", cluster)
                cluster.add_node()
                measure("2 nodes", cluster)
                cluster.remove_node()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def report(results: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """Median seconds per setting, and the speed-up of each round (its 1-node and 2-node runs are adjacent in
    time, so a round's ratio is the fairest figure on a machine whose load changes)."""
    print(f"\n{args.docs} docs encoded, {args.queries} BM25 queries, {args.vectors:,} vectors x 1,000 queries; "
          f"{args.shards} shards; {args.rounds} rounds (seconds: median)\n")
    print("| workload | local (no Ray) | 1 node | 2 nodes | 1 node / 2 nodes, each round | median |")
    print("|---|---|---|---|---|---|")
    for name in results["1 node"][0]["times"]:
        median = {label: statistics.median(r["times"][name] for r in runs) for label, runs in results.items()}
        ratios = [one["times"][name] / two["times"][name] for one, two in zip(results["1 node"], results["2 nodes"])]
        spread = all(len(r["nodes"][name]) == 2 for r in results["2 nodes"])
        print(f"| {name} | {median['local']:.1f} | {median['1 node']:.1f} | {median['2 nodes']:.1f} "
              f"| {', '.join(f'x{r:.2f}' for r in ratios)} | x{statistics.median(ratios):.2f}"
              f"{'' if spread else ' (shards on one node in some round)'} |")


if __name__ == "__main__":
    main()
