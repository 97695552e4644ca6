"""``ragif reproduce``: run the reproductions and check the figures they promise."""
from __future__ import annotations

import argparse


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from rag.experiment.reproduce import run_reproductions

    failures = run_reproductions(args.file, only=args.only, cache=args.cache)
    return 1 if failures else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("reproduce", help="run reproductions and check the scores they must give")
    rp.add_argument("file", nargs="?", help="reproductions YAML (default: $RAGIF_REPRODUCTIONS, else "
                    "experiments/reproductions.yaml in the working directory or a folder above it)")
    rp.add_argument("--only", nargs="*", help="names of the reproductions to run")
    rp.add_argument("--cache", help="cache folder")
    rp.set_defaults(func=_cmd_reproduce)
