"""TREC formats: run files, qrels, topics (SGML or TSV) and SGML document collections."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import InputError
from rag.core.schema import check_id, check_label, id_problem, validate_qrels, validate_results
from rag.datasets.io import iter_lines


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


def read_run(path: str | Path) -> pd.DataFrame:
    """A TREC run file (``qid Q0 docno rank score tag``) as a results table (0-based ranks recomputed).
    Ids follow the id rule of :mod:`rag.core.schema`."""
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


def read_qrels(path: str | Path) -> pd.DataFrame:
    """TREC qrels (``qid iter docno label``) or BEIR qrels TSV (header ``query-id corpus-id score``).
    Ids and labels follow the id and label rules of :mod:`rag.core.schema` (``1.7`` or ``inf`` is refused,
    not truncated)."""
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
