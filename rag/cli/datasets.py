"""``ragif datasets``: the named data sets, where they were found, and what each has: its splits with their
question counts, whether relevance judgements exist, and its corpus (with its size when that is cheap to
know: in memory or counted from the file's lines; a corpus is never read to count it).
"""
from __future__ import annotations

import argparse
from typing import Any


def describe_dataset(dataset: Any) -> str:
    """``test: 300 questions, qrels; train: 505 questions, qrels; corpus 5,183 documents`` (cheap to compute)."""
    parts = []
    for split in dataset.splits:
        n = len(dataset.queries(split))
        has = ["qrels"] if dataset.has_qrels(split) else []
        if split in getattr(dataset, "candidate_loaders", {}):
            has.append("candidate pool")
        columns = set(dataset.queries(split).columns)
        if "answers" in columns:
            has.append("gold answers")
        parts.append(f"{split}: {n:,} questions" + (f" ({', '.join(has)})" if has else " (no qrels)"))
    corpus = dataset.corpus
    if corpus is None:
        parts.append("no corpus")
    else:
        size = corpus.length_hint()
        parts.append(f"corpus of {size:,} documents" if size is not None else "a corpus (size not counted)")
    return "; ".join(parts)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from rag.core.errors import RagifError
    from rag.datasets import NAMED, data_root, load_dataset

    root = data_root()
    print(f"shared data root: {root or 'not found (set RAGIF_DATA)'}")
    width = max(len(n) for n in [*NAMED, "demo"]) + 2
    print(f"{'demo':{width}s}built in: {describe_dataset(load_dataset('demo'))}")
    for name, (_, folder, _) in NAMED.items():
        where = root / folder if root else None
        if where is None or not where.exists():
            print(f"{name:{width}s}absent")
            continue
        try:
            found = describe_dataset(load_dataset(name))
        except RagifError as exc:   # a broken copy is reported, the listing goes on
            found = f"cannot be read: {exc}"
        print(f"{name:{width}s}{where}: {found}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    ds = sub.add_parser("datasets", help="list the named datasets: where, splits, question counts, qrels, corpus")
    ds.set_defaults(func=_cmd_datasets)
