"""Meta-evaluation: how well does each automatic metric agree with human judgements?

>>> from rag.evaluation.meta_eval import meta_evaluate
>>> table = meta_evaluate(frame, metrics=["F1", "Recall", "K-Precision"], label="human")   # doctest: +SKIP

Per metric: Spearman ρ, Kendall τ (b), point-biserial r and ROC-AUC against the human label, each with
a percentile bootstrap confidence interval (examples resampled with replacement). Labels may be
binary (yes/no, correct/incorrect, 0/1, true/false), graded (numbers) or categorical with an order
(e.g. ``incorrect < refused < correct``); correlations use the ordinal codes, point-biserial and
ROC-AUC a binarised label (default: the highest category / values above the median). With
``positive`` (the categories, or for graded labels the smallest value, counted as positive) the label
is binary for **every** statistic. Rows whose metric or label is missing are left out of that metric's
figures (``n`` says how many remain). The bootstrap is vectorised (:mod:`rag.meta_eval_stats`) and
gives the same intervals for a fixed seed as resampling one sample at a time. Readers for CSV/TSV/JSONL/JSON
and for instruct-qa's released human-annotation files
(``human_eval_annotations/{correctness,faithfulness}/{dataset}/{model}_human_eval_results.json``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.evaluation.meta_eval_stats import STATS, point_and_bootstrap

_TRUE = {"1", "yes", "y", "true", "t", "correct", "faithful", "grounded", "supported", "entailed", "right"}
_FALSE = {"0", "no", "n", "false", "f", "incorrect", "unfaithful", "ungrounded", "unsupported", "wrong",
          "hallucinated", "hallucination"}
ID_COLUMNS = ("id_", "id", "qid", "question_id", "example_id")
LABEL_COLUMNS = ("human_label", "human_eval", "human_judgement", "human_judgment", "human", "judge", "judge_label",
                 "label", "gold_label", "judgement", "judgment", "verdict", "annotation", "annotator", "correctness",
                 "faithfulness", "is_correct", "correct", "faithful", "rating", "score")
_LABEL_WORDS = ("human", "judge", "judg", "label", "annot", "verdict", "rating")


# ---------------------------------------------------------------------------- reading
def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV/TSV, JSONL or JSON (list of records, or a mapping id -> record) file as a DataFrame."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix.startswith(".csv") or suffix.startswith(".tsv"):
        try:
            return pd.read_csv(path, sep="\t" if suffix.startswith(".tsv") else ",")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot parse table: {str(exc).splitlines()[0]}", path=path) from None
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start})", path=path) from None
    if suffix.startswith(".jsonl"):
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"invalid JSON: {exc.msg}", path=path, line=i) from None
        return pd.json_normalize(rows)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    return _records(data, path)


def _records(data: Any, path: Path) -> pd.DataFrame:
    if isinstance(data, list):
        return pd.json_normalize(data)
    if isinstance(data, dict):
        for key in ("data", "annotations", "results", "examples"):
            if isinstance(data.get(key), list):
                return pd.json_normalize(data[key])
        if data and all(isinstance(v, dict) for v in data.values()):
            frame = pd.json_normalize(list(data.values()))
            if not any(c in frame.columns for c in ID_COLUMNS):
                frame.insert(0, "id_", [str(k) for k in data])
            return frame
        if data and all(not isinstance(v, (dict, list)) for v in data.values()):
            return pd.DataFrame({"id_": [str(k) for k in data], "label": list(data.values())})
    raise InputError("expected a list of records or a mapping from id to record", path=path)


def read_instructqa_annotations(path: str | Path) -> pd.DataFrame:
    """instruct-qa human annotations: one ``{model}_human_eval_results.json`` file or the whole folder.

    Adds ``aspect`` (correctness/faithfulness), ``dataset`` and ``model`` from the path. The record
    schema inside the files is not documented upstream, so the id and label columns are detected
    (:data:`ID_COLUMNS`, :data:`LABEL_COLUMNS`) and can be overridden in :func:`meta_evaluate`.
    """
    path = Path(path)
    files = sorted(path.rglob("*_human_eval_results.json")) if path.is_dir() else [path]
    if not files:
        raise InputError("no *_human_eval_results.json files found", path=path)
    frames = []
    for f in files:
        frame = read_table(f)
        parts = f.parts
        frame["model"] = f.name[: -len("_human_eval_results.json")] if f.name.endswith(
            "_human_eval_results.json") else f.stem
        frame["dataset"] = parts[-2] if len(parts) >= 2 else ""
        frame["aspect"] = parts[-3] if len(parts) >= 3 and parts[-3] in ("correctness", "faithfulness") else ""
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def detect_column(frame: pd.DataFrame, candidates: Sequence[str], what: str, given: str | None = None,
                  words: Sequence[str] = (), exclude: Iterable[str] = ()) -> str:
    """``given`` (checked), else the first of ``candidates`` in the table (case-insensitive), else the one
    column whose name contains one of ``words`` (e.g. ``judge_verdict``)."""
    if given is not None:
        if given not in frame.columns:
            raise InputError(f"no {what} column {given!r}; the table has {list(frame.columns)}", field=given)
        return given
    by_lower = {str(c).lower(): c for c in frame.columns}
    for c in candidates:
        if c.lower() in by_lower:
            return by_lower[c.lower()]
    skip = set(exclude)
    hits = [c for c in frame.columns if c not in skip and any(w in str(c).lower() for w in words)]
    if len(hits) == 1:
        return hits[0]
    more = f"; several could be: {hits}" if hits else ""
    raise InputError(f"cannot find a {what} column (tried {list(candidates)}{more}); name it explicitly. "
                     f"The table has {list(frame.columns)}", field=what)


# ---------------------------------------------------------------------------- labels
def encode_labels(values: pd.Series, kind: str = "auto", order: Sequence[str] | None = None,
                  positive: Iterable[str] | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """``(ordinal codes, binary labels, kind)``; missing labels become NaN in both.

    ``kind``: ``binary``, ``graded`` (numbers), ``categorical`` (needs ``order``, lowest first), or
    ``auto``. ``positive``: categories (or for graded labels, values >= the smallest given) that count
    as positive for point-biserial and ROC-AUC; default: the top category / value above the median.
    """
    raw = values.astype("object")
    missing = raw.isna().to_numpy()
    text = raw.map(lambda v: str(v).strip().lower() if not pd.isna(v) else "")
    numeric = pd.to_numeric(raw.map(lambda v: v if not isinstance(v, bool) else int(v)), errors="coerce")
    if kind == "auto":
        if order:
            kind = "categorical"
        elif set(text[~missing]) <= _TRUE | _FALSE:
            kind = "binary"
        elif numeric[~missing].notna().all():
            kind = "binary" if set(numeric[~missing].unique()) <= {0, 1} else "graded"
        else:
            seen = sorted(set(text[~missing]))
            raise InputError(f"labels {seen[:8]} are neither binary nor numbers: give their order "
                             "(lowest first), e.g. --order incorrect refused correct", field="label")
    if kind == "binary":
        if numeric[~missing].notna().all() and set(numeric[~missing].unique()) <= {0, 1}:
            codes = numeric.to_numpy(dtype=float)
            return codes, codes.copy(), kind
        bad = sorted(set(text[~missing]) - _TRUE - _FALSE)
        if bad:
            raise InputError(f"labels {bad[:5]} are not binary (yes/no, correct/incorrect, 1/0, ...)", field="label")
        codes = np.where(missing, np.nan, text.isin(_TRUE).to_numpy().astype(float))
        return codes, codes.copy(), kind
    if kind == "graded":
        codes = numeric.to_numpy(dtype=float)
        if np.isnan(codes[~missing]).any():
            raise InputError("graded labels must be numbers", field="label")
        ok = codes[~np.isnan(codes)]
        if positive is not None:
            threshold = min(float(p) for p in positive)
            binary = np.where(np.isnan(codes), np.nan, (codes >= threshold).astype(float))
        else:
            binary = np.where(np.isnan(codes), np.nan, (codes > np.median(ok)).astype(float)) if len(ok) else codes
        return codes, binary, kind
    if kind == "categorical":
        if not order:
            raise InputError("categorical labels need their order (lowest first)", field="order")
        rank = {str(o).strip().lower(): i for i, o in enumerate(order)}
        unknown = sorted(set(text[~missing]) - set(rank))
        if unknown:
            raise InputError(f"labels {unknown[:5]} are not in the given order {list(order)}", field="label")
        codes = np.array([rank[t] if not m else np.nan for t, m in zip(text, missing)], dtype=float)
        pos = {str(p).strip().lower() for p in positive} if positive else {str(order[-1]).strip().lower()}
        binary = np.array([float(t in pos) if not m else np.nan for t, m in zip(text, missing)])
        return codes, binary, kind
    raise InputError(f"unknown label kind {kind!r}; use binary, graded, categorical or auto", field="kind")


# ---------------------------------------------------------------------------- statistics
def meta_evaluate(frame: pd.DataFrame, metrics: Sequence[str], label: str, kind: str = "auto",
                  order: Sequence[str] | None = None, positive: Iterable[str] | None = None,
                  n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per metric: ``n``, each statistic of :data:`STATS` and its ``_lo``/``_hi`` bootstrap bounds.

    ``positive`` given: the label is binarised for every statistic (e.g. a three-class label with
    ``positive=["correct"]``). Progress is shown on a terminal (:mod:`rag.core.progress`)."""
    from rag.core.progress import bar

    if label not in frame.columns:
        raise InputError(f"no label column {label!r}; the table has {list(frame.columns)}", field=label)
    if n_boot < 0:
        raise InputError(f"the number of bootstrap samples must be >= 0, got {n_boot}", field="bootstrap")
    positive = list(positive) if positive is not None else None
    codes, binary, kind = encode_labels(frame[label], kind, order, positive)
    if positive:
        codes = binary.copy()
        kind = f"{kind} -> binary (positive: {', '.join(map(str, positive))})"
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    scores = {}
    for metric in metrics:
        if metric not in frame.columns:
            raise InputError(f"no metric column {metric!r}; the table has {list(frame.columns)}", field=metric)
        scores[metric] = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
    rows = []
    with bar(total=n_boot * len(metrics), desc="meta-eval bootstrap", unit="sample") as tick:
        for metric, score in scores.items():
            keep = ~np.isnan(score) & ~np.isnan(codes)
            s, c, b = score[keep], codes[keep], binary[keep]
            row: dict[str, Any] = {"metric": metric, "n": int(keep.sum()), "positives": int(np.nansum(b))}
            if len(s) < 3:
                row.update({k: np.nan for st in STATS for k in (st, f"{st}_lo", f"{st}_hi")})
                rows.append(row)
                tick(n_boot)
                continue
            point, boot = point_and_bootstrap(s, c, b, n_boot, rng, tick)
            for st in STATS:
                row[st] = point[st]
                vals = boot[st][~np.isnan(boot[st])]
                if n_boot and len(vals):
                    row[f"{st}_lo"] = float(np.quantile(vals, alpha))
                    row[f"{st}_hi"] = float(np.quantile(vals, 1 - alpha))
                else:
                    row[f"{st}_lo"] = row[f"{st}_hi"] = np.nan
            rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(label_kind=kind, n_boot=n_boot, confidence=confidence,
                     missing_labels=int(np.isnan(codes).sum()))
    return out


def format_table(table: pd.DataFrame) -> str:
    """Markdown: each statistic as ``value [lo, hi]``."""
    head = ["metric", "n", *STATS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [str(r["metric"]), str(r["n"])]
        for st in STATS:
            v, lo, hi = r[st], r.get(f"{st}_lo"), r.get(f"{st}_hi")
            cells.append("–" if pd.isna(v) else f"{v:.3f}" + ("" if pd.isna(lo) else f" [{lo:.3f}, {hi:.3f}]"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def roc_curve(score: np.ndarray, binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False/true positive rates at every threshold (ties grouped) and the area under the curve."""
    pos, neg = binary.sum(), len(binary) - binary.sum()
    if pos == 0 or neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
    order = np.argsort(-score, kind="mergesort")
    s, b = score[order], binary[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tpr = np.r_[0, np.cumsum(b)[last] / pos]
    fpr = np.r_[0, np.cumsum(1 - b)[last] / neg]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


# ---------------------------------------------------------------------------- command line
def instructqa_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """instruct-qa response records name the prediction ``response`` and the gold list ``answer``:
    rename them to ragif's ``answer`` / ``answers`` (and ``question`` to ``query``)."""
    out = frame
    if "response" in out.columns and "answers" not in out.columns and "answer" in out.columns:
        out = out.rename(columns={"answer": "answers"})
    if "response" in out.columns and "answer" not in out.columns:
        out = out.rename(columns={"response": "answer"})
    if "question" in out.columns and "query" not in out.columns:
        out = out.rename(columns={"question": "query"})
    return out
