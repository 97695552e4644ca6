"""``ragif eval RUN QRELS -m ...``: evaluate a TREC run file against TREC or BEIR qrels."""
from __future__ import annotations

import argparse


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate a TREC run file against TREC/BEIR qrels")
    ev.add_argument("run")
    ev.add_argument("qrels")
    ev.add_argument("-m", "--measures", nargs="+", default=["nDCG@10", "AP", "R@100", "RR@10"])
    ev.add_argument("--per-query", action="store_true", help="print per-query values too")
    ev.set_defaults(func=_cmd_eval)
