"""Dense retrieval at scale: memory of encoding a corpus (streamed vs the old in-memory path) and exact vs
compressed vector indexes (memory, search time, recall@10), with the extrapolation to Wikipedia DPR (21M passages).

    python experiments/bench_dense_scale.py encode --sizes 100000,300000,1000000
    python experiments/bench_dense_scale.py index --sizes 100000,1000000 [--dim 384] [--queries 1000]

``encode``: a synthetic BEIR-style corpus of ~100-word passages per size, encoded by ``DenseRetriever`` (corpus
read as a stream, 8,192 passages a shard, written to disk as each finishes) and by the path ragif had before
(``dense.py`` at e42b2bd: ``corpus.frame()``, a list of every text, one array of every vector, saved at the end),
each in a process of its own; ``streamed-raw`` is the streamed path fed straight from the file, without the
``Corpus`` object's id checks (which keep every id: ``rag/datasets/base.py``). The encoder is a stand-in that gives 384-d vectors (the size of MiniLM's) from a
hash of each text at a fraction of a model's cost, so the figures are the memory of the data path, not of the
model. Peak memory is sampled from ``/proc/self/status`` every 20 ms: ``anon`` is the process's own memory (what
can run out), ``rss`` adds file pages it has mapped (reclaimable page cache).

``index``: synthetic clustered unit vectors (a 48-d mixture of 2,000 Gaussians mapped into ``--dim`` dimensions,
so neighbourhoods mean something) and held-out queries from the same mixture; the exact index (``flat``) and the
compressed one (``ivfpq``, trained on a sample, vectors added 65,536 at a time from a memory map; also with its top
40 re-scored exactly from the memory-mapped vectors, ``DenseRetriever(rescore=4)``), each in a process of its own: build seconds, index bytes per vector, search ms per query (k=10, one thread), recall@10
against exact search. The 21M column multiplies bytes per vector by 21,015,324 (Wikipedia DPR passages).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


from rag.core.registry import register  # noqa: E402

WIKI_DPR = 21_015_324
WORDS = ("river sea mountain snow bread yeast oven flour boat harbour peak valley city king war law music art "
         "science cell protein gene energy star planet ocean forest rain wind stone iron gold school church "
         "film album song team season league player election party state government island bridge road").split()


@register("bench-hash-384", kind="encoder")
@dataclass
class HashVectors:
    """384-d unit vectors seeded by a CRC of each text (the benchmark's stand-in for a model)."""

    model: str = "hash"
    device: str = "cpu"
    max_length: int | None = None
    threads: int = 0
    dim: int = 384

    @property
    def dimension(self) -> int:
        return self.dim

    def fingerprint(self) -> str:
        return f"bench-hash-{self.dim}"

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(self.dim, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if normalize else out


class PeakMemory:
    """Peak ``RssAnon`` and ``VmRSS`` of this process, sampled in a thread."""

    def __init__(self, every: float = 0.02):
        self.anon = self.rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _sample(self) -> None:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("RssAnon:", "VmRSS:")):
                    kb = int(line.split()[1]) * 1024
                    if line.startswith("RssAnon:"):
                        self.anon = max(self.anon, kb)
                    else:
                        self.rss = max(self.rss, kb)

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(every)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# ----------------------------------------------------------------------------------------- encoding memory
def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    """``n`` passages of 90-110 words (about 600 bytes), BEIR JSONL."""
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", encoding="utf-8") as out:
        for start in range(0, n, 10_000):
            words = rng.integers(0, len(WORDS), size=(min(10_000, n - start), 110))
            lengths = rng.integers(90, 111, size=len(words))
            for i, (row, length) in enumerate(zip(words, lengths)):
                text = " ".join(WORDS[w] for w in row[:length])
                out.write(json.dumps({"_id": f"p{start + i}", "title": f"Title {start + i}", "text": text}) + "\n")
    tmp.rename(path)


def stream_corpus(path: Path):
    from rag.datasets import Corpus

    def docs():
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                yield {"docno": record["_id"], "title": record["title"], "text": record["text"]}
    stat = path.stat()
    return Corpus(docs, fingerprint=f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}", source=str(path))


def encode_phase(path: Path, way: str, cache: Path) -> dict:
    from rag.core.cache import Cache
    from retrievers import encoders
    from retrievers.dense import DenseRetriever

    corpus = stream_corpus(path)
    t0 = time.perf_counter()
    with PeakMemory() as peak, Cache(cache).activate():
        if way == "streamed":
            stage = DenseRetriever(corpus, runtime="bench-hash-384", model="hash", executor="local")
            rows = len(stage.doc_embeddings()[1])
        elif way == "streamed-raw":   # the same encoding path fed by the file directly (no Corpus id checks)
            from retrievers.embeddings import encode_documents, read_embeddings
            from retrievers.encoders import PassageEncoding
            folder = encode_documents(corpus._factory, lambda d: f"{d['title']} {d['text']}",
                                      PassageEncoding(HashVectors()), lambda: 384, "raw", executor="local")
            rows = len(read_embeddings(folder).vectors)
        else:   # what dense.py did before: the corpus as a frame, every text in a list, every vector in one array
            frame = corpus.frame()
            texts = [f"{t} {x}" if t else x for t, x in zip(frame["title"], frame["text"])]
            vectors = encoders.encode(HashVectors(), texts, 32, True, desc=None)
            folder = cache / "old-path"
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "embeddings.npy", vectors)
            (folder / "docnos.txt").write_text("\n".join(frame["docno"]) + "\n", encoding="utf-8")
            rows = len(vectors)
    return {"rows": rows, "seconds": time.perf_counter() - t0, "anon": peak.anon, "rss": peak.rss}


# ----------------------------------------------------------------------------------------- indexes
def clustered(n: int, dim: int, seed: int, centres: int = 2000, latent: int = 48) -> np.ndarray:
    """Unit vectors from a mixture of Gaussians in a ``latent``-d space, mapped linearly into ``dim`` dimensions."""
    rng = np.random.default_rng(12345)
    means = rng.normal(size=(centres, latent)).astype(np.float32)
    mapping = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        z = means[rng.integers(0, centres, m)] + 0.6 * rng.normal(size=(m, latent)).astype(np.float32)
        x = z @ mapping + 0.05 * rng.normal(size=(m, dim)).astype(np.float32)
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def index_phase(vectors_path: Path, queries_path: Path, exact_path: Path, kind: str, params: dict) -> dict:
    """Build ``kind`` once; search at each ``nprobe`` of ``params["nprobes"]`` (IVF) or once (exact)."""
    import faiss

    from retrievers.vector_index import Rescored, build_index, index_type
    faiss.omp_set_num_threads(1)
    nprobes = params.pop("nprobes", [None])
    rescore = params.pop("rescore", 0)
    vectors = np.load(vectors_path, mmap_mode="r")
    queries = np.load(queries_path)
    exact = np.load(exact_path)
    searches = []
    with PeakMemory() as peak:
        t0 = time.perf_counter()
        index = build_index(index_type(kind, params).resolve(len(vectors)), vectors)
        built = time.perf_counter() - t0
        for nprobe, factor in [(n, 0) for n in nprobes] + ([(nprobes[0], rescore)] if rescore else []):
            if nprobe:
                index.index.nprobe = nprobe
            searcher = Rescored(index, vectors, factor) if factor else index
            searcher.search(queries[:10], 10)
            t0 = time.perf_counter()
            _, rows = searcher.search(queries, 10)
            seconds = time.perf_counter() - t0
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact)]))
            searches.append({"nprobe": nprobe, "rescore": factor, "search_ms": 1000 * seconds / len(queries),
                             "recall@10": recall})
    saved = vectors_path.with_suffix(f".{kind}.faiss")
    faiss.write_index(index.index, str(saved))
    size = saved.stat().st_size
    saved.unlink()
    return {"build_s": built, "bytes_per_vector": size / len(vectors), "searches": searches, "anon": peak.anon,
            "rss": peak.rss}


def exact_neighbours(vectors_path: Path, queries_path: Path, out: Path) -> None:
    from retrievers.vector_index import exact_search
    if not out.exists():
        _, rows = exact_search(np.load(vectors_path, mmap_mode="r"), np.load(queries_path), 10)
        np.save(out, rows)


# ----------------------------------------------------------------------------------------- driver
def run_child(*args: str) -> dict:
    env = {**os.environ, "RAGIF_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "child", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gb(x: float) -> str:
    return f"{x / 2**30:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["encode", "index", "child"])
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--work", default="/tmp/ragif-bench-dense")
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.what == "child":
        phase, *params = args.rest
        if phase == "encode":
            out = encode_phase(Path(params[0]), params[1], Path(params[2]))
        else:
            out = index_phase(Path(params[0]), Path(params[1]), Path(params[2]), params[3], json.loads(params[4]))
        print(json.dumps(out))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.what == "encode":
        print("| passages | path | seconds | peak anon GB | peak rss GB |")
        print("|---|---|---|---|---|")
        slopes: dict[str, list[tuple[int, int]]] = {"old": [], "streamed": [], "streamed-raw": []}
        for n in sizes:
            corpus = work / f"corpus-{n}.jsonl"
            write_corpus(corpus, n)
            for way in ("old", "streamed", "streamed-raw"):
                cache = work / f"cache-{way}-{n}"
                subprocess.run(["rm", "-rf", str(cache)], check=True)
                got = run_child("encode", str(corpus), way, str(cache))
                slopes[way].append((n, got["anon"]))
                print(f"| {n:,} | {way} | {got['seconds']:.1f} | {gb(got['anon'])} | {gb(got['rss'])} |", flush=True)
                subprocess.run(["rm", "-rf", str(cache)], check=True)
        for way, points in slopes.items():
            if len(points) > 1:
                (n0, a0), (n1, a1) = points[0], points[-1]
                slope = (a1 - a0) / (n1 - n0)
                print(f"{way}: {slope:.0f} bytes of own memory per passage between {n0:,} and {n1:,}; at 21M: "
                      f"{gb(a1 + slope * (WIKI_DPR - n1))} GB")
        return
    print("| vectors | index | build s | search ms/query | bytes/vector | recall@10 | peak anon GB | 21M index GB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        vectors_path, queries_path = work / f"vectors-{n}-{args.dim}.npy", work / f"queries-{args.dim}.npy"
        if not vectors_path.exists():
            np.save(vectors_path, clustered(n, args.dim, seed=1))
        if not queries_path.exists():
            np.save(queries_path, clustered(args.queries, args.dim, seed=2))
        exact_path = work / f"exact-{n}-{args.dim}.npy"
        exact_neighbours(vectors_path, queries_path, exact_path)
        for kind, params in (("flat", {}), ("ivfpq", {"nprobes": [16, 64], "rescore": 4})):
            got = run_child("index", str(vectors_path), str(queries_path), str(exact_path), kind, json.dumps(params))
            for search in got["searches"]:
                label = kind + (f" nprobe {search['nprobe']}" if search["nprobe"] else "") + \
                    (f" + exact re-scoring of the top {10 * search['rescore']} from disk" if search["rescore"] else "")
                print(f"| {n:,} | {label} | {got['build_s']:.1f} | {search['search_ms']:.2f} | "
                      f"{got['bytes_per_vector']:.0f} | {search['recall@10']:.3f} | {gb(got['anon'])} | "
                      f"{gb(got['bytes_per_vector'] * WIKI_DPR)} |", flush=True)


if __name__ == "__main__":
    main()
