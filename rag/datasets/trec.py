"""TREC formats: run files, qrels, topics (SGML or TSV) and SGML document collections."""
from __future__ import annotations

import csv
import os
import re
import stat
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import InputError
from rag.core.schema import (LABEL_RANGE, MAX_ID_BYTES, check_id, check_label, id_problem, validate_qrels,
                             validate_results)
from rag.datasets.io import iter_lines, open_binary


def _fields(text: str, counts: tuple[int, ...]) -> list[str]:
    """The fields of a run or qrels line: split on tabs when the line is tab-separated with a valid count
    (so an id with a space inside is reported, not silently split), else on any whitespace."""
    if "\t" in text:
        parts = [p.strip() for p in text.strip().split("\t")]
        if len(parts) in counts and all(parts):
            return parts
    return text.split()


def _records(path: str | Path, counts: tuple[int, ...]):
    for line, text in iter_lines(path):
        if text.strip():
            yield line, _fields(text, counts)


def _plain_ids(values: pd.Series) -> bool:
    """Whether every id of ``values`` passes the id rule of :mod:`rag.core.schema`: printable ASCII without
    spaces (the usual case) checked by one vectorised match, anything else once per distinct id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values, type=pa.string(), from_pandas=True)
    if array.null_count:
        return False
    if len(array) and pc.all(pc.match_substring_regex(array, "^[!-~]+$")).as_py():
        return pc.max(pc.binary_length(array)).as_py() <= MAX_ID_BYTES
    return len(array) > 0 and all(id_problem(str(t)) is None for t in pd.unique(values))


def _first_line(path: str | Path) -> bytes:
    with open_binary(path) as fh:
        return fh.readline()


def _arrow_table(path: str | Path, counts: tuple[int, ...], floats: tuple[int, ...]) -> pd.DataFrame | None:
    """The file read by Arrow's CSV reader when one tab or one space separates its fields (what ragif,
    trec_eval tools and most toolkits write): Arrow strings, no Python object per field. None otherwise."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        first = _first_line(path)
        delimiter = "\t" if b"\t" in first else " "
        width = len(first.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n").split(delimiter.encode()))
        if width not in counts:
            return None
        types = {f"f{i}": pa.float64() if i in floats else pa.string() for i in range(width)}
        table = pacsv.read_csv(str(path), read_options=pacsv.ReadOptions(autogenerate_column_names=True,
                                                                         use_threads=False),
                               parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                                                double_quote=False, escape_char=False),
                               convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError, InputError):
        return None
    if table.num_columns not in counts or any(table.column(i).null_count for i in range(table.num_columns)):
        return None
    text = pd.Series(["x"]).dtype
    frame = table.to_pandas(types_mapper={pa.string(): text}.get if isinstance(text, pd.StringDtype) else None)
    frame.columns = range(frame.shape[1])
    return frame


def _fast_table(path: str | Path, counts: tuple[int, ...], dtypes: dict[int, Any],
                floats: tuple[int, ...] = ()) -> pd.DataFrame | None:
    """The whitespace-separated file read column-wise (Arrow's CSV reader, else pandas' C parser; columns
    numbered from 0), or None when it is not plainly well formed (a field missing or extra, a score that is
    not a number, bad bytes): the line-by-line reader then finds the problem and names its line. Only a
    regular file is read here: a pipe or a device goes to the line reader, which refuses endless devices."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
    except (OSError, TypeError, ValueError):
        return None
    frame = _arrow_table(path, counts, floats)
    if frame is None:
        try:
            frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=dtypes, engine="c", na_filter=False,
                                quoting=csv.QUOTE_NONE, encoding="utf-8", skip_blank_lines=True)
        except (ValueError, TypeError, OSError, EOFError, zlib.error, pd.errors.ParserError,
                pd.errors.EmptyDataError):   # UnicodeDecodeError is a ValueError
            return None
    if frame.empty or frame.shape[1] not in counts or frame.isna().to_numpy().any():
        return None
    for column in frame.columns:   # a short line: its last fields are empty
        if pd.api.types.is_string_dtype(frame[column]) and (frame[column] == "").any():
            return None
    return frame


def _ranked(qid: pd.Series, docno: pd.Series, score: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Row order and 0-based ranks of :func:`rag.core.schema.add_ranks` (query ids ascending, scores
    descending, equal scores by document id) from integer codes; None when a (qid, docno) pair repeats."""
    qcodes, _ = pd.factorize(qid, sort=True)
    dcodes, docs = pd.factorize(docno)
    if pd.Series(qcodes.astype(np.int64) * max(len(docs), 1) + dcodes).duplicated().any():
        return None
    order = np.argsort(qcodes, kind="stable")   # linear when the file lists each query's lines together
    sorted_q, sorted_s = qcodes[order], score[order]
    if ((np.diff(sorted_q) == 0) & (np.diff(sorted_s) > 0)).any():   # a query's scores not in descending order
        order = np.lexsort((-score, qcodes))
        sorted_q, sorted_s = qcodes[order], score[order]
    tied = np.flatnonzero((np.diff(sorted_q) == 0) & (np.diff(sorted_s) == 0))
    if len(tied):   # equal scores within a query: document ids decide, in string order, block by block
        names = docs.to_numpy(dtype=object) if hasattr(docs, "to_numpy") else np.asarray(docs, dtype=object)
        starts = tied[np.r_[True, np.diff(tied) > 1]]
        ends = tied[np.r_[np.diff(tied) > 1, True]] + 2
        for a, b in zip(starts.tolist(), ends.tolist()):
            block = order[a:b]
            order[a:b] = block[np.argsort(names[dcodes[block]].astype(str), kind="stable")]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_q)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(sorted_q)]))
    return order, np.arange(len(sorted_q), dtype=np.int64) - first


def _read_run_fast(path: str | Path) -> pd.DataFrame | None:
    frame = _fast_table(path, (6,), {0: str, 2: str, 5: str}, floats=(4,))   # Q0 and rank: any type will do
    if frame is None or not pd.api.types.is_numeric_dtype(frame[4]) or pd.api.types.is_bool_dtype(frame[4]):
        return None
    frame.columns = ["qid", "q0", "docno", "rank", "score", "run_tag"]
    if not _plain_ids(frame["qid"]) or not _plain_ids(frame["docno"]):
        return None
    score = frame["score"].to_numpy(dtype=np.float64)
    if np.isnan(score).any():
        return None
    ranked = _ranked(frame["qid"], frame["docno"], score)
    if ranked is None:
        return None
    order, rank = ranked
    out = frame[["qid", "docno", "score", "run_tag"]].take(order).reset_index(drop=True)
    out["score"] = score[order]
    out["rank"] = rank
    return out


def read_run(path: str | Path) -> pd.DataFrame:
    """A TREC run file (``qid Q0 docno rank score tag``) as a results table (0-based ranks recomputed).
    Ids follow the id rule of :mod:`rag.core.schema`. A well-formed file is read by pandas' C parser and
    checked column by column; any problem is found and reported (file, line, field) line by line."""
    fast = _read_run_fast(path)
    if fast is not None:
        return fast
    rows = []
    for line, fields in _records(path, (6,)):
        if len(fields) != 6:
            raise InputError(f"a run line needs 6 fields (qid Q0 docno rank score tag), found {len(fields)}",
                             path=path, line=line)
        try:
            score = float(fields[4])
        except ValueError:
            raise InputError(f"score {fields[4]!r} is not a number", path=path, line=line, field="score") from None
        rows.append((check_id(fields[0], "query id", path, line, "qid"),
                     check_id(fields[2], "document id", path, line, "docno"), score, fields[5]))
    if not rows:
        raise InputError("the run file is empty", path=path)
    frame = pd.DataFrame(rows, columns=["qid", "docno", "score", "run_tag"])
    return validate_results(frame, source=str(path))


def write_run(results: pd.DataFrame, path: str | Path, tag: str = "ragif") -> None:
    """Write a results table as a TREC run file (ranks from 1), atomically. Ids a TREC file cannot carry
    (whitespace, control characters: the id rule of :mod:`rag.core.schema`) and such a ``tag`` are refused."""
    problem = id_problem(str(tag).strip()) if isinstance(tag, str) else "is not a string"
    if problem:
        raise InputError(f"run tag {tag!r} {problem}", path=path, field="tag")
    frame = validate_results(results, source=str(path))
    frame = frame.sort_values(["qid", "rank"], kind="mergesort")
    table = pd.DataFrame({"qid": frame["qid"], "q0": "Q0", "docno": frame["docno"], "rank": frame["rank"] + 1,
                          "score": frame["score"].map("{:.6f}".format), "tag": tag})
    atomic_write_text(path, table.to_csv(sep=" ", header=False, index=False, lineterminator="\n"))


def _read_qrels_fast(path: str | Path) -> pd.DataFrame | None:
    frame = _fast_table(path, (3, 4), {0: str, 1: str, 2: str, 3: str})
    if frame is None:
        return None
    if frame.iloc[0, 0] == "query-id":   # a BEIR TSV's header
        frame = frame.iloc[1:]
    columns = [0, 1, 2] if frame.shape[1] == 3 else [0, 2, 3]
    frame = frame[columns].set_axis(["qid", "docno", "label"], axis=1)
    if frame.empty or not _plain_ids(frame["qid"]) or not _plain_ids(frame["docno"]):
        return None
    labels = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=np.float64)
    low, high = LABEL_RANGE
    if np.isnan(labels).any() or (labels != np.round(labels)).any() or labels.min() < low or labels.max() > high:
        return None
    frame = frame.assign(label=labels.astype(np.int64)).reset_index(drop=True)
    if frame.duplicated(["qid", "docno"]).any():
        return None
    return frame


def read_qrels(path: str | Path) -> pd.DataFrame:
    """TREC qrels (``qid iter docno label``) or BEIR qrels TSV (header ``query-id corpus-id score``).
    Ids and labels follow the id and label rules of :mod:`rag.core.schema` (``1.7`` or ``inf`` is refused,
    not truncated); problems are reported by file and line."""
    fast = _read_qrels_fast(path)
    if fast is not None:
        return fast
    rows = []
    for line, fields in _records(path, (3, 4)):
        if line == 1 and fields[:1] == ["query-id"]:
            continue
        if len(fields) == 3:
            qid, docno, label = fields
        elif len(fields) == 4:
            qid, _, docno, label = fields
        else:
            raise InputError(f"a qrels line needs 4 fields (qid iter docno label) or 3 (qid docno label), "
                             f"found {len(fields)}", path=path, line=line)
        rows.append((check_id(qid, "query id", path, line, "qid"), check_id(docno, "document id", path, line, "docno"),
                     check_label(label, path, line)))
    if not rows:
        raise InputError("the qrels file is empty", path=path)
    return validate_qrels(pd.DataFrame(rows, columns=["qid", "docno", "label"]), source=str(path))


def write_qrels(qrels: pd.DataFrame, path: str | Path) -> None:
    """Write qrels as a TREC file (``qid 0 docno label``), atomically; ids a TREC file cannot carry are refused."""
    frame = validate_qrels(qrels, source=str(path))
    lines = [f"{q} 0 {d} {l}" for q, d, l in zip(frame["qid"], frame["docno"], frame["label"])]
    atomic_write_text(path, "\n".join(lines) + "\n")


_TAG = re.compile(r"<(/?)(\w+)>", re.IGNORECASE)


def read_topics(path: str | Path, field: str = "title") -> pd.DataFrame:
    """TREC topics: SGML ``<top>`` blocks (``field`` = title, desc or narr becomes ``query``; all three
    are kept as columns) or a two-column TSV ``qid<TAB>query``."""
    lines = list(iter_lines(path))
    first = next((t for _, t in lines if t.strip()), "")
    if "<top>" not in first.lower():
        rows = []
        for line, text in lines:
            if not text.strip():
                continue
            parts = text.split("\t")
            if len(parts) < 2:
                raise InputError("expected 'qid<TAB>query'", path=path, line=line)
            rows.append({"qid": check_id(parts[0], "query id", path, line, "qid"), "query": parts[1].strip()})
        return pd.DataFrame(rows, columns=["qid", "query"])
    topics: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    open_field: str | None = None
    start_line = 0
    for line, text in lines:
        pos = 0
        for m in _TAG.finditer(text):
            chunk = text[pos:m.start()]
            if current is not None and open_field:
                current[open_field] = (current.get(open_field, "") + " " + chunk).strip()
            pos = m.end()
            closing, tag = m.group(1) == "/", m.group(2).lower()
            if tag == "top" and not closing:
                current, open_field, start_line = {}, None, line
            elif tag == "top" and closing:
                if current is None:
                    raise InputError("</top> without <top>", path=path, line=line)
                topics.append(_finish_topic(current, path, start_line))
                current, open_field = None, None
            elif current is not None:
                open_field = None if closing else tag
        if current is not None and open_field:
            rest = text[pos:]
            current[open_field] = (current.get(open_field, "") + " " + rest).strip()
    if current is not None:
        raise InputError("<top> block is not closed", path=path, line=start_line)
    frame = pd.DataFrame(topics)
    if field not in frame.columns:
        raise InputError(f"topics have no <{field}> field; fields: {sorted(frame.columns)}", path=path, field=field)
    return frame.assign(query=frame[field].fillna("")).drop(columns=[c for c in ("num",) if c in frame])


def _finish_topic(topic: dict[str, str], path: str | Path, line: int) -> dict[str, str]:
    num = topic.get("num", "")
    num = re.sub(r"^\s*number:\s*", "", num, flags=re.IGNORECASE).strip()
    if not num:
        raise InputError("topic without <num>", path=path, line=line, field="num")
    out = {"qid": check_id(num, "query id", path, line, "num")}
    for key in ("title", "desc", "narr"):
        if key in topic:
            text = re.sub(r"^\s*(description|narrative):\s*", "", topic[key], flags=re.IGNORECASE)
            out[key] = " ".join(text.split())
    return out


def iter_trec_documents(path: str | Path) -> Iterator[dict[str, str]]:
    """Documents of an SGML collection (``<DOC><DOCNO>id</DOCNO> text </DOC>``)."""
    docno: str | None = None
    body: list[str] = []
    in_doc = False
    start = 0
    for line, text in iter_lines(path):
        stripped = text.strip()
        upper = stripped.upper()
        if upper.startswith("<DOC>"):
            in_doc, docno, body, start = True, None, [], line
            continue
        if upper.startswith("</DOC>"):
            if not in_doc:
                raise InputError("</DOC> without <DOC>", path=path, line=line)
            if docno is None:
                raise InputError("document without <DOCNO>", path=path, line=start, field="DOCNO")
            yield {"docno": docno, "title": "", "text": " ".join(" ".join(body).split())}
            in_doc = False
            continue
        if not in_doc:
            continue
        m = re.match(r"<DOCNO>\s*(.*?)\s*</DOCNO>", stripped, flags=re.IGNORECASE)
        if m:
            docno = check_id(m.group(1), "document id", path, line, "DOCNO")
            continue
        body.append(_TAG.sub(" ", text))
    if in_doc:
        raise InputError("<DOC> block is not closed", path=path, line=start)
