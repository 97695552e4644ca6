"""The ``ragif`` command line.

    ragif run [CONFIG]            run an experiment (bare: the default experiment on the demo set)
    ragif eval RUN QRELS -m ...   evaluate a TREC run file against qrels
    ragif board RESULTS           write Markdown/HTML/LaTeX leaderboards of a results folder
    ragif reproduce [FILE]        run the reproductions and check their scores
    ragif datasets                list the named datasets and where they were found
    ragif doctor                  what works on this machine and how to fix what does not
    ragif plot KIND SOURCE        plots (PNG + SVG): per-query deltas, tradeoff, scatter, ROC, curves
    ragif train-reranker CONFIG   train a cross-encoder reranker (optionally with a curriculum)
    ragif meta-eval SCORES ...    agreement of answer metrics with human labels (Spearman, Kendall, AUC)
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from rag.core.errors import RagifError

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
    stats = experiment.cache.stats()
    print(f"wrote {output}/ (leaderboard.md, leaderboard.html, leaderboard.tex, results.csv, per_query.csv, "
          f"significance.csv, provenance.json, runs/) in {elapsed:.1f} s; cache: {stats['hits']} hits, "
          f"{stats['misses']} misses at {experiment.cache.root}")
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


def _cmd_eval(args: argparse.Namespace) -> int:
    from rag.datasets import read_qrels, read_run
    from rag.evaluation.scoring import aggregate, per_query

    run = read_run(args.run)
    qrels = read_qrels(args.qrels)
    values = per_query(run, qrels, args.measures)
    if args.per_query:
        wide = values.pivot_table(index="qid", columns="measure", values="value", aggfunc="first")
        print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    for name, value in aggregate(values).items():
        print(f"{name}\tall\t{value:.4f}")
    return 0


def _cmd_board(args: argparse.Namespace) -> int:
    from rag.report.board import Board, write_boards

    written = write_boards(args.results, formats=args.format.split(","))
    print(Board.load(args.results).markdown())
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from rag.experiment.reproduce import run_reproductions

    failures = run_reproductions(args.file, only=args.only, cache=args.cache)
    return 1 if failures else 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from rag.datasets import NAMED, data_root

    root = data_root()
    print(f"shared data root: {root or 'not found (set RAGIF_DATA)'}")
    print(f"{'demo':24s} built in")
    for name, (_, folder, _) in NAMED.items():
        where = root / folder if root else None
        state = str(where) if where and where.exists() else "absent"
        print(f"{name:24s} {state}")
    return 0


def _cmd_train_reranker(args: argparse.Namespace) -> int:
    from rerankers.training import load_training_config, train_reranker

    config = load_training_config(args.config)
    if args.threads:
        config.threads = args.threads
    result = train_reranker(config)
    print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"model in {result.output}/ (best iteration {result.best_iteration}, validation {result.best_valid}); "
          f"{result.seconds:.1f} s of training, peak memory {result.peak_memory_mb or float('nan'):.0f} MB")
    return 0


def _cmd_meta_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.meta_eval import run_cli

    run_cli(args.scores, args.labels, args.on, args.label, args.metrics, args.compute, args.kind, args.order,
            args.positive, args.bootstrap, args.rename, args.output, args.instructqa)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from rag.cli.doctor import FAIL, report, run_checks

    from rag.cli.doctor import as_json

    checks = run_checks(llm_url=args.llm_url, config=args.config)
    print(as_json(checks) if args.json else report(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ragif", description="Retrieval-augmented QA and instruction-following IR "
                                                          "experiments.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = p.add_subparsers(dest="command", required=True)

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

    ev = sub.add_parser("eval", help="evaluate a TREC run file against TREC/BEIR qrels")
    ev.add_argument("run")
    ev.add_argument("qrels")
    ev.add_argument("-m", "--measures", nargs="+", default=["nDCG@10", "AP", "R@100", "RR@10"])
    ev.add_argument("--per-query", action="store_true", help="print per-query values too")
    ev.set_defaults(func=_cmd_eval)

    bd = sub.add_parser("board", help="write leaderboards (Markdown, HTML, LaTeX) of a results folder")
    bd.add_argument("results")
    bd.add_argument("--format", default="md,html,tex,plots", help="comma-separated: md, html, tex, plots")
    bd.set_defaults(func=_cmd_board)

    rp = sub.add_parser("reproduce", help="run reproductions and check the scores they must give")
    rp.add_argument("file", nargs="?", help="reproductions YAML (default: experiments/reproductions.yaml)")
    rp.add_argument("--only", nargs="*", help="names of the reproductions to run")
    rp.add_argument("--cache", help="cache folder")
    rp.set_defaults(func=_cmd_reproduce)

    ds = sub.add_parser("datasets", help="list the named datasets")
    ds.set_defaults(func=_cmd_datasets)

    from rag.cli.plot import add_parser as add_plot_parser
    add_plot_parser(sub)

    dr = sub.add_parser("doctor", help="check Python, torch, Java, faiss, offline models, llama.cpp, Ray, LLM server")
    dr.add_argument("--llm-url", help="OpenAI-compatible server to check (default: $RAGIF_LLM_BASE_URL)")
    dr.add_argument("--config", help="experiment config whose llm: {backend: openai, base_url: ...} to check")
    dr.add_argument("--json", action="store_true", help="machine-readable output")
    dr.set_defaults(func=_cmd_doctor)

    tr = sub.add_parser("train-reranker", help="train a cross-encoder reranker from a YAML training config")
    tr.add_argument("config", help="YAML file whose keys are rerankers.training.TrainingConfig fields")
    tr.add_argument("--threads", type=int, help="torch CPU threads")
    tr.set_defaults(func=_cmd_train_reranker)
    me = sub.add_parser("meta-eval", help="correlate answer metrics with human labels (bootstrap CIs, plot)")
    me.add_argument("scores", help="CSV/TSV/JSONL/JSON of per-example answers and/or metric scores")
    me.add_argument("--labels", help="a second file with the human labels, joined on --on")
    me.add_argument("--on", help="id column shared by the two files (default: id_, id, qid, ...)")
    me.add_argument("--label", help="human label column (default: detected)")
    me.add_argument("--metrics", nargs="*", help="metric columns to assess (default: known metric columns)")
    me.add_argument("--compute", nargs="*", help="metrics to compute first with rag.evaluation.answers (e.g. F1 Recall)")
    me.add_argument("--kind", default="auto", choices=["auto", "binary", "graded", "categorical"])
    me.add_argument("--order", nargs="*", help="categorical labels, lowest first (e.g. incorrect refused correct)")
    me.add_argument("--positive", nargs="*", help="label values counted as positive for point-biserial/ROC-AUC")
    me.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples (0: no intervals)")
    me.add_argument("--rename", nargs="*", default=[], help="column mapping OLD=NEW")
    me.add_argument("--instructqa", action="store_true", help="files are instruct-qa responses/annotations")
    me.add_argument("-o", "--output", help="folder for meta_eval.csv/.md/.png and scored.jsonl")
    me.set_defaults(func=_cmd_meta_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from rag.core.secrets import install_log_redaction, redact
    install_log_redaction()
    try:
        return args.func(args)
    except RagifError as exc:
        print(redact(f"ragif: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ragif: interrupted; finished stages are cached, run again to resume", file=sys.stderr)
        return 130

