"""``ragif plot``: the plots of :mod:`rag.report.plots` from the command line (kept apart so the CLI starts fast).

    ragif plot deltas RESULTS                       per-query deltas vs. the baseline, every measure
    ragif plot tradeoff summary.csv                 accuracy vs retrieval rate per policy (adaptive retrieval)
    ragif plot scatter scores.csv -x human -y F1    metric vs human label, with correlations
    ragif plot roc scores.csv --label correct -y F1 BEM
    ragif plot curve bench.csv -x docs -y qps --by system --logx
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rag.core.errors import InputError


def add_parser(sub: Any) -> None:
    """The ``ragif plot`` subcommand (wired into :mod:`rag.cli`)."""
    pl = sub.add_parser("plot", help="plots (PNG + SVG): per-query deltas of a results folder, or tradeoff / "
                                     "scatter / roc / curve from a CSV")
    pl.add_argument("kind", choices=["deltas", "tradeoff", "scatter", "roc", "curve"])
    pl.add_argument("source", help="a results folder (deltas) or a CSV/TSV table")
    pl.add_argument("-o", "--output", help="file stem (default: beside the source)")
    pl.add_argument("-x", help="x column (tradeoff default retrieval_rate; scatter: the human label)")
    pl.add_argument("-y", nargs="+", help="y column(s) (tradeoff default accuracy; roc: score columns)")
    pl.add_argument("--label", help="point labels (tradeoff, default policy) or the binary label (roc)")
    pl.add_argument("--err", help="error-bar column (tradeoff; default <y>_lo/<y>_hi when present)")
    pl.add_argument("--by", help="one line/colour per value of this column (curve, scatter)")
    pl.add_argument("--logx", action="store_true", help="log-scale x (curve)")
    pl.add_argument("--measures", nargs="*", help="measures to plot (deltas; default all)")
    pl.add_argument("--title")
    pl.set_defaults(func=_cmd_plot)


def _read_table(path: Path) -> Any:
    import pandas as pd

    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a folder, not a table", path=path)
    try:
        return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot parse table: {str(exc).splitlines()[0]}", path=path) from None


def _cmd_plot(args: argparse.Namespace) -> int:
    from rag.report.plots import curve, roc, scatter, tradeoff, write_plots

    source = Path(args.source)
    if args.kind == "deltas":
        paths = write_plots(source, args.measures)
    else:
        frame = _read_table(source)
        stem = Path(args.output) if args.output else source.with_name(f"{source.stem}-{args.kind}")
        ys = args.y or []
        if args.kind == "tradeoff":
            label = args.label or ("policy" if "policy" in frame else None)
            paths = tradeoff(frame, args.x or "retrieval_rate", ys[0] if ys else "accuracy", stem, label=label,
                             err=args.err, title=args.title)
        elif not ys or (args.kind != "roc" and not args.x):
            raise InputError(f"ragif plot {args.kind} needs -x and -y columns", field="x" if not args.x else "y")
        elif args.kind == "scatter":
            paths = scatter(frame, args.x, ys[0], stem, by=args.by, title=args.title)
        elif args.kind == "roc":
            if not args.label:
                raise InputError("ragif plot roc needs --label (the binary human label column)", field="label")
            paths = roc(frame, ys, args.label, stem, title=args.title)
        else:
            paths = curve(frame, args.x, ys[0], stem, by=args.by, logx=args.logx, title=args.title)
    for path in paths:
        print(f"wrote {path}")
    if not paths:
        print("nothing to plot (a single system, or no baseline)")
    return 0
