"""``ragif eval RUN QRELS -m ...``: evaluate a TREC run file against TREC qrels, a BEIR qrels TSV or a BEIR
folder (its ``qrels/<split>.tsv``); measures printed in the order asked, per-query rows in natural query
order (q1, q2, q10)."""
from __future__ import annotations

import argparse
from pathlib import Path


def qrels_file(path: str | Path, split: str | None = None) -> Path:
    """The qrels file of ``path``: the file itself, or a BEIR folder's ``qrels/<split>.tsv`` (``split``
    defaults to ``test``, or the folder's only split)."""
    from rag.core.errors import InputError

    path = Path(path)
    if not path.is_dir():
        return path
    folder = path / "qrels" if (path / "qrels").is_dir() else path
    splits = sorted(p.stem for p in folder.glob("*.tsv"))
    if not splits:
        raise InputError("a folder given as qrels must be a BEIR folder with qrels/<split>.tsv; none found",
                         path=path)
    chosen = split or ("test" if "test" in splits else splits[0] if len(splits) == 1 else None)
    if chosen not in splits:
        raise InputError(f"choose the qrels split with --split: {splits}" if chosen is None else
                         f"no qrels for split {chosen!r}; the folder has {splits}", path=folder, field="split")
    return folder / f"{chosen}.tsv"


def _cmd_eval(args: argparse.Namespace) -> int:
    from rag.datasets import read_qrels, read_run
    from rag.evaluation.scoring import aggregate, per_query
    from rag.evaluation.measures import parse_measure
    from rag.report.tables import natural_order

    measures = [parse_measure(m) for m in args.measures]   # every name checked before the files are read
    names = list(dict.fromkeys(m.name for m in measures))
    run = read_run(args.run)
    qrels = read_qrels(qrels_file(args.qrels, args.split))
    values = per_query(run, qrels, measures)
    if args.per_query:
        wide = values.pivot_table(index="qid", columns="measure", values="value", aggfunc="first", dropna=False)
        wide = wide.reindex(index=natural_order(wide.index), columns=[n for n in names if n in wide.columns])
        wide.columns.name = None
        print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    means = aggregate(values)
    for name in names:
        print(f"{name}\tall\t{means.get(name, float('nan')):.4f}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate a TREC run file against TREC/BEIR qrels (a file or a BEIR folder)")
    ev.add_argument("run")
    ev.add_argument("qrels", help="TREC qrels, a BEIR qrels TSV, or a BEIR folder (qrels/<split>.tsv)")
    ev.add_argument("-m", "--measures", nargs="+", default=["nDCG@10", "AP", "R@100", "RR@10"])
    ev.add_argument("--split", help="the qrels split of a BEIR folder (default: test)")
    ev.add_argument("--per-query", action="store_true", help="print per-query values too")
    ev.set_defaults(func=_cmd_eval)
