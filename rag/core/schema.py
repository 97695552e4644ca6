"""The data model: pandas DataFrames with PyTerrier-compatible column names.

=========  ==================================================================================
table      columns
=========  ==================================================================================
queries    ``qid`` (str), ``query`` (str), optional ``instruction`` (str), ``answers`` (list of
           gold strings) and any metadata (``s_pop``, ``relation``, ...)
results    the queries' columns + ``docno`` (str), ``score`` (float), ``rank`` (int, 0 = best),
           optional ``text``, ``title``
qrels      ``qid``, ``docno``, ``label`` (int; > 0 is relevant)
answers    the queries' columns + ``answer`` (str), ``contexts`` (list of passage texts that were
           in the prompt), ``retrieved`` (bool) and LLM cost columns
corpus     ``docno``, ``title``, ``text``
=========  ==================================================================================

Ids are always strings. ``rank`` starts at 0 as in PyTerrier; TREC files get ``rank + 1``.

**The id rule** (:func:`check_id`, applied by every reader and writer of queries, documents, qrels and runs):
an id is a string or an integer (integers become their decimal string); surrounding whitespace is
stripped; what remains must be non-empty, visible text without spaces, at most :data:`MAX_ID_BYTES`
bytes of UTF-8. Refused, with the file, line and field: floating-point numbers (``5.0`` would never match
``5``), booleans, whitespace inside (TREC run and qrels files separate fields by whitespace, so such an
id could not be written and read back), control characters (NUL, ...), invisible format characters
(zero-width space, ...), unpaired surrogates, private-use and unassigned code points.

**The label rule** (:func:`check_label`): a relevance label is an integer from -2**31 to 2**31-1
(negative labels are judged non-relevant, as in TREC); ``"2"``, ``2`` and ``2.0`` are read as 2;
``1.7``, ``inf``, ``nan`` and values out of range are refused, never truncated.
"""
from __future__ import annotations

import logging
import math
import numbers
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.core.fields import text_column

log = logging.getLogger(__name__)

QUERY_COLUMNS = ("qid", "query")
# the columns that belong to one document of a ranking (everything else describes the query)
DOCUMENT_COLUMNS = ("docno", "score", "rank", "text", "title")
RESULT_COLUMNS = ("qid", "docno", "score", "rank")
QRELS_COLUMNS = ("qid", "docno", "label")
CORPUS_COLUMNS = ("docno", "title", "text")
ANSWER_COLUMNS = ("qid", "query", "answer")
# FollowIR-style paired runs: the changed-instruction run of query q is stored under q + CHANGED_SUFFIX
CHANGED_SUFFIX = "::changed"
# per-question LLM cost, summed over every LLM stage of a pipeline (see rag.llm.stage.LLMStage.add_cost)
COST_COLUMNS = ("llm_prompt_tokens", "llm_completion_tokens", "llm_seconds")


MAX_ID_BYTES = 4096          # far below Lucene's 32,766-byte term limit, far above any real id
LABEL_RANGE = (-2**31, 2**31 - 1)
_CATEGORY_NAMES = {"Cc": "control character", "Cf": "invisible format character", "Cs": "unpaired surrogate",
                   "Co": "private-use character", "Cn": "unassigned code point"}


def id_problem(text: str) -> str | None:
    """Why the (already stripped) string ``text`` cannot be an id, or None when it can."""
    if not text:
        return "is empty"
    if not text.isprintable() or " " in text:
        for position, char in enumerate(text, start=1):
            if char == " " or not char.isprintable():
                category = unicodedata.category(char)
                if char.isspace() or category.startswith("Z"):
                    return (f"contains whitespace (U+{ord(char):04X} at character {position}): TREC run and qrels "
                            f"files separate fields by whitespace, so it could not be written and read back")
                kind = _CATEGORY_NAMES.get(category, "non-printable character")
                article = "an" if kind[0] in "aeiou" else "a"
                return (f"contains {article} {kind} (U+{ord(char):04X} at character {position}); ids must be "
                        f"visible text")
    if len(text) * 4 > MAX_ID_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"is {len(text.encode('utf-8', 'surrogatepass'))} bytes long (at most {MAX_ID_BYTES})"
    return None


def check_id(value: Any, what: str = "id", path: str | Path | None = None, line: int | None = None,
             field: str | None = None) -> str:
    """``value`` as an id string, or :class:`InputError` naming ``path``, ``line`` and ``field`` (the id rule
    of this module's docstring)."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, (bool, np.bool_)):
        raise InputError(f"{what} {value!r} is a boolean; ids are strings or integers", path=path, line=line,
                         field=field)
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    elif isinstance(value, numbers.Real):
        if math.isnan(value):
            raise InputError(f"{what} is missing (NaN)", path=path, line=line, field=field)
        raise InputError(f"{what} {value!r} is a floating-point number; write ids as strings or integers (a float "
                         f"id such as 5.0 never matches '5' in qrels or runs)", path=path, line=line, field=field)
    elif value is None or value is pd.NA:
        raise InputError(f"{what} is missing", path=path, line=line, field=field)
    else:
        raise InputError(f"{what} must be a string or an integer, got {type(value).__name__} {value!r:.60}",
                         path=path, line=line, field=field)
    problem = id_problem(text)
    if problem:
        raise InputError(f"{what} {text[:80]!r} {problem}", path=path, line=line, field=field)
    return text


def check_ids(values: pd.Series, what: str, field: str, source: str | None = None) -> pd.Series:
    """A column of ids checked by :func:`check_id` (the error names the row and its id)."""
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(str)
    if len(values) and pd.api.types.infer_dtype(values, skipna=False) == "string":
        text = values.astype(str).str.strip()
        plain = (text.str.fullmatch(r"[!-~]+") & (text.str.len() <= MAX_ID_BYTES)).to_numpy(dtype=bool)
        rows = np.flatnonzero(~plain)                 # only ids outside printable ASCII are looked at one by one
        if not len(rows):
            return text
    else:
        text, rows = values, range(len(values))
    checked = text.tolist()
    for row in rows:
        try:
            checked[row] = check_id(checked[row], what, source, None, field)
        except InputError as exc:
            raise InputError(f"row {row + 1}: {exc.reason}", path=source, field=field) from None
    return pd.Series(checked, index=values.index, dtype=object).astype(str)


def check_label(value: Any, path: str | Path | None = None, line: int | None = None,
                field: str = "label") -> int:
    """A relevance label as an int (the label rule of this module's docstring), or :class:`InputError`."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise InputError(f"label {value!r} is not a number", path=path, line=line, field=field) from None
    elif isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif not isinstance(value, numbers.Real):
        raise InputError(f"label {value!r} is not a number", path=path, line=line, field=field)
    if isinstance(number, numbers.Integral):
        number = int(number)
    else:
        number = float(number)
        if not math.isfinite(number):
            raise InputError(f"label {value!r} is not a finite number", path=path, line=line, field=field)
        if number != int(number):
            raise InputError(f"label {value!r} is not an integer (relevance labels are graded integers such as "
                             f"0, 1, 2; it is refused rather than truncated)", path=path, line=line, field=field)
        number = int(number)
    if not LABEL_RANGE[0] <= number <= LABEL_RANGE[1]:
        raise InputError(f"label {value!r} is out of range ({LABEL_RANGE[0]} to {LABEL_RANGE[1]})", path=path,
                         line=line, field=field)
    return number


def check_labels(values: pd.Series, source: str | None = None) -> pd.Series:
    """A column of relevance labels as int64 (:func:`check_label`; the error names the row)."""
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        if len(values) == 0 or (values.min() >= LABEL_RANGE[0] and values.max() <= LABEL_RANGE[1]):
            return values.astype("int64")
    out = []
    for row, value in enumerate(values.tolist(), start=1):
        try:
            out.append(check_label(value, source))
        except InputError as exc:
            raise InputError(f"row {row}: {exc.reason}", path=source, field="label") from None
    return pd.Series(out, index=values.index, dtype="int64")


def add_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort each query's documents by descending score (ties by docno) and set ``rank`` from 0."""
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype="int64"))
    out = frame.sort_values(["qid", "score", "docno"], ascending=[True, False, True], kind="mergesort")
    out = out.reset_index(drop=True)
    out["rank"] = out.groupby("qid", sort=False).cumcount().astype("int64")
    return out


def is_ranking(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a ranking (documents with scores per query), not a queries or answers table."""
    return isinstance(frame, pd.DataFrame) and {"qid", "docno", "score"}.issubset(frame.columns)


def query_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that describe its queries, not its documents."""
    return [c for c in frame.columns if c not in DOCUMENT_COLUMNS]


def questions_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per query (first seen order) with the query columns of a ranking or queries table."""
    return frame.drop_duplicates("qid")[query_columns(frame)].reset_index(drop=True)


def result_frame(queries: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """A ranking: each query's columns joined to its ``hits`` (``qid, docno, score``), ranked."""
    hits = hits.assign(qid=hits["qid"].astype(str)) if len(hits) else hits
    out = queries[query_columns(queries)].assign(qid=queries["qid"].astype(str)).merge(hits, on="qid", how="inner")
    return add_ranks(out)


def add_missing_questions(frame: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """A ranking plus one row without ``docno`` (NA) for each of ``questions`` it has no document for."""
    have = set(frame["qid"].astype(str))
    missing = questions[~questions["qid"].astype(str).isin(have)]
    if missing.empty:
        return frame
    filler = missing[[c for c in missing.columns if c in frame.columns or c in QUERY_COLUMNS]]
    return pd.concat([frame, filler], ignore_index=True)


def require_columns(frame: pd.DataFrame, columns: Iterable[str | None], what: str, source: str | None = None) -> None:
    """A clear error naming the first missing column (``None`` entries are optional columns not asked for).

    >>> require_columns(pd.DataFrame({"qid": []}), ["qid", "query"], "queries")
    Traceback (most recent call last):
    ...
    rag.core.errors.InputError: field 'query': queries needs column(s) ['query']; the table has ['qid']
    """
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        raise InputError(f"{what} needs column(s) {missing}; the table has {list(frame.columns)}",
                         path=source, field=missing[0])


def validate_queries(frame: pd.DataFrame, source: str | None = None, empty: str = "error") -> pd.DataFrame:
    """Check and normalise a queries table.

    Duplicate ``qid`` values are an error; empty or whitespace-only queries are an error
    (``empty="error"``) or are dropped with a warning giving their count (``empty="drop"``).
    """
    require_columns(frame, QUERY_COLUMNS, "queries", source)
    out = frame.copy()
    out["qid"] = check_ids(out["qid"], "query id", "qid", source)
    out["query"] = text_column(out["query"], "query", source, required=False, ids=out["qid"]).fillna("").astype(str)
    for column in ("instruction", "instruction_changed"):   # text that models read: never a list or an object
        if column in out.columns:
            out[column] = text_column(out[column], column, source, required=False, ids=out["qid"])
    dup = out["qid"][out["qid"].duplicated()]
    if len(dup):
        raise InputError(f"{len(dup)} duplicate query id(s), e.g. {dup.iloc[0]!r}", path=source, field="qid")
    blank = out["query"].str.strip() == ""
    if blank.any():
        ids = out.loc[blank, "qid"].tolist()
        if empty == "drop":
            log.warning("%s: dropped %d empty query(ies): %s", source or "queries", len(ids), ids[:5])
            out = out[~blank].reset_index(drop=True)
        else:
            raise InputError(f"{len(ids)} empty query text(s), query id(s) {ids[:5]}", path=source, field="query")
    return out


def validate_qrels(frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Check and normalise a qrels table: string ids, integer labels, no duplicate (qid, docno)."""
    require_columns(frame, QRELS_COLUMNS, "qrels", source)
    out = frame[list(QRELS_COLUMNS)].copy()
    out["qid"] = check_ids(out["qid"], "query id", "qid", source)
    out["docno"] = check_ids(out["docno"], "document id", "docno", source)
    out["label"] = check_labels(out["label"], source)
    dup = out.duplicated(["qid", "docno"])
    if dup.any():
        first = out[dup].iloc[0]
        raise InputError(f"{int(dup.sum())} duplicate judgement(s), e.g. query {first.qid!r} document "
                         f"{first.docno!r}", path=source, field="docno")
    return out.reset_index(drop=True)


def check_qrels_against(qrels: pd.DataFrame, qids: Iterable[str] | None = None,
                        docnos: Iterable[str] | None = None, source: str | None = None) -> pd.DataFrame:
    """Drop judgements of unknown queries and warn (with counts) about unknown documents.

    Judgements of documents absent from the corpus are kept (they count against recall, as in
    trec_eval) but reported, because they usually mean mismatched ids.
    """
    out = qrels
    if qids is not None:
        known = set(qids)
        unknown = ~out["qid"].isin(known)
        if unknown.any():
            n_q = out.loc[unknown, "qid"].nunique()
            log.warning("%s: %d judgement(s) of %d query id(s) not among the queries were ignored",
                        source or "qrels", int(unknown.sum()), n_q)
            out = out[~unknown].reset_index(drop=True)
    if docnos is not None:
        known_docs = set(docnos)
        unknown_docs = ~out["docno"].isin(known_docs)
        if unknown_docs.any():
            log.warning("%s: %d judgement(s) name %d document id(s) absent from the corpus",
                        source or "qrels", int(unknown_docs.sum()), out.loc[unknown_docs, "docno"].nunique())
    return out


def validate_results(frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Check a results table and give it string ids, float scores and 0-based ranks."""
    require_columns(frame, ("qid", "docno", "score"), "results", source)
    out = frame.copy()
    out["qid"] = check_ids(out["qid"], "query id", "qid", source)
    out["docno"] = check_ids(out["docno"], "document id", "docno", source)
    scores = pd.to_numeric(out["score"], errors="coerce")
    if scores.isna().any():
        bad = out.loc[scores.isna()].iloc[0]
        raise InputError(f"{int(scores.isna().sum())} missing, NaN or non-numeric score(s), e.g. query {bad['qid']!r} "
                         f"document {bad['docno']!r}", path=source, field="score")
    out["score"] = scores.astype("float64")
    dup = out.duplicated(["qid", "docno"])
    if dup.any():
        first = out[dup].iloc[0]
        raise InputError(f"document {first.docno!r} appears twice for query {first.qid!r}", path=source,
                         field="docno")
    if "rank" not in out.columns:
        out = add_ranks(out)
    return out
