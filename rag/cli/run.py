"""``ragif run [CONFIG]`` and ``ragif grid A.yaml B.yaml ...``: run experiments from YAML configs.

``ragif run --check CONFIG`` checks the whole experiment (schema, plugins, data set, questions, every
pipeline's stages against each other and against its measures) and stops before any stage runs.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def _cmd_run(args: argparse.Namespace) -> int:
    from rag.core.config import load_yaml
    from rag.experiment.config import build_experiment, check_experiment, report_formats, results_folder
    from rag.experiment.results import check_results_folder

    path = Path(args.config) if args.config else DEFAULT_CONFIG
    t0 = time.perf_counter()
    if args.check:
        checked = check_experiment(load_yaml(path), str(path), cache=args.cache, plugins=args.plugin)
        experiment = checked.experiment
        print(f"{path}: ok, nothing ran: {len(experiment.pipelines)} pipeline(s), {len(experiment.measures)} "
              f"measure(s), {len(experiment.queries())} question(s) of {experiment.dataset.name!r} "
              f"(split {experiment.split!r}); results would go to {results_folder(path, experiment, args.output)}/")
        for measure, systems in checked.applies.items():
            left_out = [s for s in experiment.pipelines if s not in systems]
            print(f"  {measure}: {len(systems)} of {len(experiment.pipelines)} system(s)"
                  + (f" (not {', '.join(left_out)})" if left_out else ""))
        return 0
    experiment = build_experiment(load_yaml(path), str(path), cache=args.cache, plugins=args.plugin,
                                  output=args.output, check_output=True)   # the results folder before any work
    output = check_results_folder(results_folder(path, experiment, args.output))
    results = experiment.run()
    formats, plots = report_formats(experiment)
    results.save(output, formats=formats, plots=plots)
    elapsed = time.perf_counter() - t0
    board = output / "leaderboard.md"
    print(board.read_text("utf-8") if "md" in formats and board.exists() else results)
    written = [f"leaderboard.{f}" for f in formats] + ["results.csv", "per_query.csv", "significance.csv",
                                                        "provenance.json", "runs/"] + (["plots"] if plots else [])
    print(f"wrote {output}/ ({', '.join(written)}) in {elapsed:.1f} s; cache: {experiment.cache.summary()} at "
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
    run.add_argument("--check", action="store_true",
                     help="check the whole experiment (config, data, pipelines against measures) and stop before any "
                          "stage runs")
    run.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                     help="import MODULE (or the ragif.plugins entry point of that name) first, so that the "
                          "components it registers can be used; repeatable")
    run.set_defaults(func=_cmd_run)

    gr = sub.add_parser("grid", help="run several experiment configs in parallel (Ray) or one after another")
    gr.add_argument("configs", nargs="+", help="YAML experiment configs")
    gr.add_argument("--executor", choices=["auto", "local", "ray"], default="auto",
                    help="auto: Ray when installed, else one after another")
    gr.add_argument("--ray-address", help="an existing Ray cluster (default: $RAY_ADDRESS or a local one)")
    gr.add_argument("--cache", help="cache folder shared by the workers (default: $RAGIF_CACHE or ~/.cache/ragif)")
    gr.set_defaults(func=_cmd_grid)
