"""``ragif datasets``: the named data sets and where they were found."""
from __future__ import annotations

import argparse


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="list the named datasets")
    ds.set_defaults(func=_cmd_datasets)
