"""Cold vs cached re-run time of an experiment (default: the main job, bare `ragif run`: the RAG chain on the
demo set with the offline LLM).

    python experiments/bench_cache.py [CONFIG] [--repeat 2]        # e.g. experiments/scifact_bm25.yaml

Each run is a fresh `ragif run` process (JVM start, imports and all), so the figures are what a
researcher waits for. The cold run gets an empty cache folder; the re-runs reuse it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_run(config: str, cache: Path, output: Path) -> float:
    start = time.perf_counter()
    chosen = [] if config == "default" else [config]
    subprocess.run([sys.executable, "-m", "rag.cli", "run", *chosen, "--cache", str(cache), "-o", str(output)],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="default", help="a YAML config, or 'default' (bare ragif run)")
    parser.add_argument("--repeat", type=int, default=2, help="cached re-runs to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache, output = Path(tmp) / "cache", Path(tmp) / "out"
        cold = timed_run(args.config, cache, output)
        warm = [timed_run(args.config, cache, output) for _ in range(args.repeat)]
    best = min(warm)
    print(f"config: {args.config}")
    print(f"cold run (empty cache):  {cold:7.2f} s")
    print(f"cached re-run (best of {len(warm)}): {best:7.2f} s   runs: {', '.join(f'{w:.2f}' for w in warm)}")
    print(f"speed-up cold/cached:    {cold / best:7.1f}x")


if __name__ == "__main__":
    main()
