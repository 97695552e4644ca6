"""Memory and time of the RAG chain as the corpus grows, next to Pyserini used directly, extrapolated to 21M.

    nice python experiments/bench_scale.py --sizes 1000000 3000000 [--work /tmp/ragif-scale] [--keep]

For each size a synthetic BEIR corpus of ~90-word passages (``experiments/scale_corpus.py``; ~870 bytes a
passage as JSONL, with a JsonCollection copy for Pyserini's indexer) and 1,000 queries. Every phase runs in a
process of its own; each reports its wall seconds and its peak resident memory (the JVM included: it lives
in the same process: ``VmHWM``), and the bytes it read through system calls (``rchar``):

ragif: ``load`` (load_dataset + fingerprints, first and cached), ``lucene-build`` (LuceneBM25's index, raw
text stored), ``docstore-build`` (the on-disk docstore), ``fast-build`` (bm25-fast: postings and scoring
tables), ``search`` (BM25 % 10 for 1,000 queries), ``fetch`` (AddText for those 10,000 hits, the search
output read from the cache), ``fast-search``, ``rag-first`` / ``rag-cached`` (BM25 % 10 >> AddText >> a reader
on an instant LLM through ``Experiment``: first with the indexes built but no stage output cached, then
everything cached).
Pyserini: ``pyserini-build`` (``python -m pyserini.index.lucene ... --storeRaw`` run in-process, same
threads), ``pyserini-search-fetch`` (``LuceneSearcher.batch_search`` for the same queries, then
``searcher.doc(docid).raw()`` for the 10,000 hits; the fetch seconds are reported apart).

The report: one row per phase and size (seconds, peak GB), the ratios the goals name (search + fetch
memory against Pyserini's, fetch time against ``doc()``, index build time against Pyserini's), and each
phase extrapolated to 21M passages with the least-squares slope over the sizes measured (printed with it).
Big corpora are deleted after measuring unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

THREADS = 2
K = 10
WIKIPEDIA = 21_015_324


# ---------------------------------------------------------------------- measuring one phase (child process)
def _peak_gb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not carried over from the
    parent through ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _rchar() -> int:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class InstantLLM:
    """An LLM that answers at once: the first word of the first passage in the prompt."""

    name = "instant"

    def generate(self, prompts, **kw):
        out = []
        for p in prompts:
            found = re.search(r"- Title: [^\n]*\n(\S+)", str(p))
            out.append(type("Generation", (), {"text": found.group(1) if found else "unknown", "prompt_tokens": 0,
                                               "completion_tokens": 1, "latency_s": 0.0, "cached": False})())
        return out


def _data(size_dir: Path):
    from rag.datasets import load_dataset
    return load_dataset(str(size_dir / "corpus-folder"))


def _queries(data, n: int = 1000):
    return data.queries().head(n)


def phase(name: str, size_dir: Path) -> dict:
    from rag.core.cache import Cache

    cache = Cache(size_dir / "cache")
    extra: dict = {}
    with cache.activate():
        if name in ("load-first", "load-cached"):
            data = _data(size_dir)
            data.fingerprint()
            data.queries()
        elif name == "lucene-build":
            from retrievers.lucene import LuceneBM25
            path = LuceneBM25(_data(size_dir).corpus, threads=THREADS).index_path()
            extra["index_bytes"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif name == "docstore-build":
            store = _data(size_dir).corpus.docstore()
            extra["store_bytes"] = sum(p.stat().st_size for p in Path(store.folder).glob("*"))
        elif name == "fast-build":
            from retrievers.bm25.fast import FastBM25
            FastBM25(_data(size_dir).corpus, threads=THREADS).prepare()
        elif name in ("search", "fast-search"):
            data = _data(size_dir)
            if name == "search":
                from retrievers.lucene import LuceneBM25
                stage = LuceneBM25(data.corpus, k=K, threads=THREADS)
            else:
                from retrievers.bm25.fast import FastBM25
                stage = FastBM25(data.corpus, k=K, threads=THREADS)
            out = stage.transform(_queries(data))
            extra["hits"] = len(out)
            if name == "search":
                from rag.datasets import write_run
                write_run(out, size_dir / "search.run")
        elif name == "fetch":
            from rag.datasets import read_run
            from retrievers.text import AddText
            data = _data(size_dir)
            run = read_run(size_dir / "search.run")
            start = time.perf_counter()
            out = AddText(data.corpus).transform(run)
            extra["fetch_seconds"] = time.perf_counter() - start
            extra["texts"] = len(out)
        elif name in ("rag-first", "rag-cached"):
            from rag.experiment import Experiment
            from rag.readers.reader import Reader
            from retrievers.lucene import LuceneBM25
            from retrievers.text import AddText
            if name == "rag-first":
                shutil.rmtree(size_dir / "cache" / "frames", ignore_errors=True)
            data = _data(size_dir)
            pipeline = LuceneBM25(data.corpus, k=100, threads=THREADS) % K >> AddText(data.corpus) >> \
                Reader(llm=InstantLLM(), k=3)
            Experiment({"BM25 >> reader": pipeline}, data, ["RetrievalRate"], queries=_queries(data),
                       cache=cache).run()
        elif name == "pyserini-build":
            from rag.core import java
            import runpy
            java.configure()
            out = size_dir / "pyserini-index"
            shutil.rmtree(out, ignore_errors=True)
            sys.argv = ["pyserini.index.lucene", "--collection", "JsonCollection", "--input",
                        str(size_dir / "corpus-folder" / "pyserini"), "--index", str(out), "--generator",
                        "DefaultLuceneDocumentGenerator", "--threads", str(THREADS), "--storeRaw", "--quiet"]
            runpy.run_module("pyserini.index.lucene", run_name="__main__")
            extra["index_bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        elif name == "pyserini-search-fetch":
            from rag.core import java
            java.configure()
            with java.placeholder_openai_key():
                from pyserini.search.lucene import LuceneSearcher
            queries = _queries(_data(size_dir))
            searcher = LuceneSearcher(str(size_dir / "pyserini-index"))
            searcher.set_bm25(0.9, 0.4)
            start = time.perf_counter()
            hits = searcher.batch_search(queries["query"].tolist(), queries["qid"].tolist(), k=K, threads=THREADS)
            extra["search_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            texts = [searcher.doc(h.docid).raw() for found in hits.values() for h in found]
            extra["fetch_seconds"] = time.perf_counter() - start
            extra["texts"] = len(texts)
        else:
            raise SystemExit(f"unknown phase {name}")
    return extra


def run_phase(name: str, size_dir: Path) -> dict:
    """``name`` in a fresh process: seconds, peak GB, bytes read, and what the phase adds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--phase", name, "--size-dir", str(size_dir)],
                          capture_output=True, text=True, env={**os.environ, "RAGIF_PROGRESS": "0"})
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"phase {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    result["seconds"] = seconds
    result["load"] = os.getloadavg()[0]
    return result


# ---------------------------------------------------------------------- the report
SYSTEM = {"pyserini-build": "Pyserini", "pyserini-search-fetch": "Pyserini"}
ORDER = ["load-first", "load-cached", "lucene-build", "pyserini-build", "docstore-build", "fast-build", "search",
         "fetch", "pyserini-search-fetch", "fast-search", "rag-first", "rag-cached"]


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line (slope, intercept); with one point, a line through the origin."""
    if len(xs) == 1:
        return ys[0] / xs[0], 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def report(results: dict[int, dict[str, dict]]) -> str:
    sizes = sorted(results)
    lines = ["| phase | system | " + " | ".join(f"{n / 1e6:g}M: s, peak GB" for n in sizes) +
             " | slope per 1M passages (s, GB) | 21M (s, peak GB) |", "|---|---|" + "---|" * (len(sizes) + 2)]
    for name in ORDER:
        have = [n for n in sizes if name in results[n]]
        if not have:
            continue
        cells = [f"{results[n][name]['seconds']:.1f}, {results[n][name]['peak_gb']:.2f}" if n in have else "-"
                 for n in sizes]
        xs = [n / 1e6 for n in have]
        s_slope, s_icpt = _fit(xs, [results[n][name]["seconds"] for n in have])
        m_slope, m_icpt = _fit(xs, [results[n][name]["peak_gb"] for n in have])
        at = WIKIPEDIA / 1e6
        lines.append(f"| {name} | {SYSTEM.get(name, 'ragif')} | " + " | ".join(cells) +
                     f" | {s_slope:.1f}, {m_slope:.3f} | {s_slope * at + s_icpt:.0f}, {m_slope * at + m_icpt:.2f} |")
    lines.append("")
    for n in sizes:
        r = results[n]
        notes = []
        if "search" in r and "fetch" in r and "pyserini-search-fetch" in r:
            ours = max(r["search"]["peak_gb"], r["fetch"]["peak_gb"])
            theirs = r["pyserini-search-fetch"]["peak_gb"]
            notes.append(f"search+fetch peak {ours:.2f} GB vs Pyserini {theirs:.2f} GB (x{ours / theirs:.2f})")
            notes.append(f"10k texts: AddText {r['fetch']['fetch_seconds']:.2f} s vs doc() "
                         f"{r['pyserini-search-fetch']['fetch_seconds']:.2f} s "
                         f"(x{r['fetch']['fetch_seconds'] / r['pyserini-search-fetch']['fetch_seconds']:.2f})")
        if "lucene-build" in r and "pyserini-build" in r:
            ours, theirs = r["lucene-build"], r["pyserini-build"]
            notes.append(f"Lucene build {ours['seconds']:.0f} s vs Pyserini {theirs['seconds']:.0f} s "
                         f"(x{ours['seconds'] / theirs['seconds']:.2f}); index "
                         f"{ours['index_bytes'] / n:.0f} vs {theirs['index_bytes'] / n:.0f} B/passage")
        if "rag-cached" in r:
            notes.append(f"cached re-run read {r['rag-cached']['rchar'] / 1e6:.0f} MB through system calls "
                         f"(corpus file {r['corpus_bytes'] / 1e6:.0f} MB)")
        loads = [v["load"] for v in r.values() if isinstance(v, dict) and "load" in v]
        if loads:
            notes.append(f"load average {min(loads):.1f}-{max(loads):.1f} at the ends of the phases")
        lines.append(f"- {n / 1e6:g}M: " + "; ".join(notes))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ragif-scale"))
    parser.add_argument("--phases", nargs="*", default=ORDER)
    parser.add_argument("--keep", action="store_true", help="keep the generated corpora and indexes")
    parser.add_argument("--merge", action="store_true", help="add to the results already in --out (.json)")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "figures" / "bench_scale")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--size-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        extra = phase(args.phase, args.size_dir)
        print(json.dumps({**extra, "peak_gb": _peak_gb(), "rchar": _rchar()}))
        return
    from scale_corpus import write_corpus

    results: dict[int, dict[str, dict]] = {}
    if args.merge and args.out.with_suffix(".json").exists():
        results = {int(n): r for n, r in json.loads(args.out.with_suffix(".json").read_text()).items()}
    for n in args.sizes:
        size_dir = args.work / str(n)
        if not (size_dir / "corpus-folder" / "corpus.jsonl").exists():
            shutil.rmtree(size_dir, ignore_errors=True)
            write_corpus(size_dir / "corpus-folder", n)
        results[n] = {"corpus_bytes": (size_dir / "corpus-folder" / "corpus.jsonl").stat().st_size}
        for name in [p for p in ORDER if p in args.phases]:
            results[n][name] = run_phase(name, size_dir)
            print(f"{n:,} {name}: {results[n][name]['seconds']:.1f} s, {results[n][name]['peak_gb']:.2f} GB "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
        if not args.keep:
            shutil.rmtree(size_dir, ignore_errors=True)
        text = report(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(report(results))


if __name__ == "__main__":
    main()
