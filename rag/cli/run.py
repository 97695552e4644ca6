"""``ragif run [CONFIG]`` and ``ragif grid A.yaml B.yaml ...``: run experiments from YAML configs."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def _cmd_run(args: argparse.Namespace) -> int:
    from rag.experiment.config import load_experiment, results_folder

    path = Path(args.config) if args.config else DEFAULT_CONFIG
    t0 = time.perf_counter()
    experiment = load_experiment(path, cache=args.cache)
    results = experiment.run()
    output = results_folder(path, experiment, args.output)
    results.save(output)
    elapsed = time.perf_counter() - t0
    print((output / "leaderboard.md").read_text("utf-8"))
    print(f"wrote {output}/ (leaderboard.md, leaderboard.html, leaderboard.tex, results.csv, per_query.csv, "
          f"significance.csv, provenance.json, runs/) in {elapsed:.1f} s; cache: {experiment.cache.summary()} at "
          f"{experiment.cache.root}")
    return 0


def _cmd_grid(args: argparse.Namespace) -> int:
    from rag.experiment.grid import run_grid

    t0 = time.perf_counter()
    done = run_grid(args.configs, executor=args.executor, cache=args.cache, ray_address=args.ray_address)
    for result in done:
        print(f"## {result.config} -> {result.output}/ ({result.seconds:.1f} s)")
        print(result.table.to_string(float_format=lambda v: f"{v:.4f}"))
        print()
    print(f"{len(done)} experiment(s) in {time.perf_counter() - t0:.1f} s ({args.executor} executor)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run an experiment config (default: the demo experiment)")
    run.add_argument("config", nargs="?", help="YAML experiment config")
    run.add_argument("-o", "--output", help="results folder (default: the config's 'output' or results/<name>)")
    run.add_argument("--cache", help="cache folder (default: $RAGIF_CACHE or ~/.cache/ragif)")
    run.set_defaults(func=_cmd_run)

    gr = sub.add_parser("grid", help="run several experiment configs in parallel (Ray) or one after another")
    gr.add_argument("configs", nargs="+", help="YAML experiment configs")
    gr.add_argument("--executor", choices=["auto", "local", "ray"], default="auto",
                    help="auto: Ray when installed, else one after another")
    gr.add_argument("--ray-address", help="an existing Ray cluster (default: $RAY_ADDRESS or a local one)")
    gr.add_argument("--cache", help="cache folder shared by the workers (default: $RAGIF_CACHE or ~/.cache/ragif)")
    gr.set_defaults(func=_cmd_grid)
