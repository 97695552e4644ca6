"""Experiment cache: wall time of a cold run (empty cache, indexes built) against a cached re-run.

Each run is a fresh process (``ragif run`` as a user starts it, imports included) on a temporary cache
folder; the re-run reuses that folder. Printed: cold and warm seconds and their ratio, and whether both
runs gave the same table.

    python experiments/bench_experiment_cache.py experiments/scifact_bm25.yaml
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(config: Path, cache: Path, output: Path) -> float:
    env = {**os.environ, "RAGIF_CACHE": str(cache), "RAGIF_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "rag.cli", "run", str(config), "--output", str(output)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="*", default=[ROOT / "experiments" / "scifact_bm25.yaml"])
    parser.add_argument("--warm-runs", type=int, default=2, help="cached re-runs (the fastest is reported)")
    args = parser.parse_args()
    print("| config | cold s | cached s | cold / cached | same results |")
    print("|---|---:|---:|---:|---|")
    for config in args.configs:
        with tempfile.TemporaryDirectory(prefix="ragif-cache-bench-") as tmp:
            tmp = Path(tmp)
            cold = run(config, tmp / "cache", tmp / "cold")
            warm = min(run(config, tmp / "cache", tmp / f"warm{i}") for i in range(args.warm_runs))
            same = (tmp / "cold" / "results.csv").read_text() == (tmp / "warm0" / "results.csv").read_text()
        print(f"| {config.name} | {cold:.1f} | {warm:.1f} | x{cold / warm:.1f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
