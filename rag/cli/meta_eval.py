"""``ragif meta-eval SCORES --labels LABELS``: agreement of answer metrics with human labels."""
from __future__ import annotations

import argparse


def _cmd_meta_eval(args: argparse.Namespace) -> int:
    from rag.evaluation.meta_eval import run_cli

    run_cli(args.scores, args.labels, args.on, args.label, args.metrics, args.compute, args.kind, args.order,
            args.positive, args.bootstrap, args.rename, args.output, args.instructqa)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
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
