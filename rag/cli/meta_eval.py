"""``ragif meta-eval SCORES --labels LABELS``: agreement of answer metrics with human labels."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import pandas as pd

from rag.core.errors import InputError


def _cmd_meta_eval(args: argparse.Namespace) -> int:

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


def run_cli(scores: str, labels: str | None = None, on: str | None = None, label: str | None = None,
            metrics: Sequence[str] | None = None, compute: Sequence[str] | None = None, kind: str = "auto",
            order: Sequence[str] | None = None, positive: Sequence[str] | None = None, n_boot: int = 1000,
            rename: Sequence[str] = (), output: str | None = None, instructqa: bool = False) -> pd.DataFrame:
    from rag.evaluation.answers import ALL_METRICS, score_answers
    from rag.evaluation.meta_eval import (ID_COLUMNS, LABEL_COLUMNS, _LABEL_WORDS, detect_column, format_table,
                                         instructqa_columns, meta_evaluate, read_instructqa_annotations, read_table)
    from rag.report.plots import plot_meta_eval

    def load(path: str) -> pd.DataFrame:
        p = Path(path)
        if instructqa or p.is_dir() or p.name.endswith("_human_eval_results.json"):
            return instructqa_columns(read_instructqa_annotations(p))
        return instructqa_columns(read_table(p)) if instructqa else read_table(p)

    frame = load(scores)
    dropped: list[str] = []
    if labels:
        other = load(labels)
        key = on or next((c for c in ID_COLUMNS if c in frame.columns and c in other.columns), None)
        if key is None:
            raise InputError(f"no shared id column to join {scores} and {labels}; use --on", field="on")
        for name, table in ((scores, frame), (labels, other)):
            if key not in table.columns:
                raise InputError(f"no id column {key!r}; the table has {list(table.columns)}", path=name, field=key)
        extra = [c for c in other.columns if c not in frame.columns or c == key]
        joined = frame.astype({key: str}).merge(other[extra].astype({key: str}), on=key, how="outer",
                                                indicator=True)
        only_scores, only_labels = (int((joined["_merge"] == side).sum()) for side in ("left_only", "right_only"))
        if only_scores:
            dropped.append(f"{only_scores} without a match in {Path(labels).name}")
        if only_labels:
            dropped.append(f"{only_labels} labels without a match in {Path(scores).name}")
        frame = joined[joined["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
        if frame.empty:
            raise InputError(f"no example of {labels} matches one of {scores} on {key!r}", path=labels, field=key)
    mapping = {}
    for item in rename:
        old, sep, new = item.partition("=")
        if not sep:
            raise InputError(f"--rename takes OLD=NEW, got {item!r}", field="rename")
        mapping[old] = new
    frame = frame.rename(columns=mapping)
    judges: dict = {}
    if compute:
        token_metrics = [m for m in compute if m in ALL_METRICS]
        frame = score_answers(frame, token_metrics) if token_metrics else frame
        registered = [m for m in compute if m not in ALL_METRICS]   # TICK, MetaRanking, HREF(...), ...
        if registered:
            from rag.evaluation.judged.meta import compute_measures
            frame, judges = compute_measures(frame, registered)
            metrics = list(metrics or []) + [m for m in registered if m not in (metrics or [])]
    label = detect_column(frame, LABEL_COLUMNS, "label", label, words=_LABEL_WORDS,
                          exclude=[*ALL_METRICS, *(metrics or []), *ID_COLUMNS])
    if not metrics:
        metrics = [c for c in frame.columns if c in ALL_METRICS and c != label]
    if not metrics:
        raise InputError("no metric columns found: name them with --metrics or compute them with --compute",
                         field="metrics")
    table = meta_evaluate(frame, list(metrics), label, kind, order, positive, n_boot)
    if table.attrs["missing_labels"]:
        dropped.append(f"{table.attrs['missing_labels']} without a label")
    intervals = f", {n_boot} bootstrap samples, 95% intervals" if n_boot else ", no intervals (--bootstrap 0)"
    print(f"{len(frame) - table.attrs['missing_labels']} examples" + (f" (dropped: {'; '.join(dropped)})" if dropped
                                                                       else "")
          + f", label {label!r} ({table.attrs['label_kind']}){intervals}")
    print(format_table(table))
    for name, info in judges.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if output:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "meta_eval.csv", index=False, float_format="%.6f")
        (out / "meta_eval.md").write_text(format_table(table) + "".join(
            f"\n{name}: " + ", ".join(f"{k} {v}" for k, v in info.items()) + "\n" for name, info in judges.items()),
            "utf-8")
        frame.to_json(out / "scored.jsonl", orient="records", lines=True, force_ascii=False)
        png = plot_meta_eval(frame, list(metrics), label, out / "meta_eval.png", kind, order, positive)
        print(f"wrote {out}/meta_eval.csv, meta_eval.md, scored.jsonl, {png.name}")
    return table
