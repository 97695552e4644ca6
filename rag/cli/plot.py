"""``ragif plot``: the plots of :mod:`rag.report.plots` from the command line (kept apart so the CLI starts fast).

    ragif plot deltas RESULTS [-o STEM|FOLDER/]     per-query deltas vs. the baseline, every measure
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
    pl.add_argument("-o", "--output", help="file stem (default: beside the source); deltas: STEM-<measure>.png|svg, "
                                           "or deltas-<measure>.png|svg in a folder (an existing one or a path "
                                           "ending in /)")
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


def _deltas(folder: Path, measures: list[str] | None, output: str) -> list[Path]:
    """Per-query delta plots of a results folder written where ``-o`` says (see :func:`rag.report.plots.write_plots`,
    which writes them into the results folder)."""
    import json

    import pandas as pd

    from rag.core.files import file_stem as _file_name
    from rag.report.plots import per_query_deltas

    if not (folder / "per_query.csv").exists():
        raise InputError("not a results folder (no per_query.csv)", path=folder)
    per_query = pd.read_csv(folder / "per_query.csv", dtype={"system": str, "qid": str})
    prov_path = folder / "provenance.json"
    provenance = json.loads(prov_path.read_text("utf-8")) if prov_path.exists() else {}
    baseline = provenance.get("baseline")
    if not baseline or per_query["system"].nunique() < 2:
        return []
    into_folder = output.endswith(("/", "\\")) or Path(output).is_dir()
    target = Path(output)
    (target if into_folder else target.parent).mkdir(parents=True, exist_ok=True)
    available = list(dict.fromkeys(per_query["measure"]))
    name = provenance.get("experiment", folder.name)
    written: list[Path] = []
    for measure in measures or provenance.get("measures") or available:
        if measure not in available:
            raise InputError(f"no per-query values for measure {measure!r}; have {available}", field="measure")
        stem = target / f"deltas-{_file_name(measure)}" if into_folder else \
            target.with_name(f"{target.name}-{_file_name(measure)}")
        written += per_query_deltas(per_query, baseline, measure, stem,
                                    title=f"{name}: per-query {measure} against {baseline}")
    return written


def _cmd_plot(args: argparse.Namespace) -> int:
    from rag.report.plots import curve, roc, scatter, tradeoff, write_plots

    source = Path(args.source)
    if args.kind == "deltas":
        paths = _deltas(source, args.measures, args.output) if args.output else write_plots(source, args.measures)
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
