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
"""
from __future__ import annotations

import logging
from typing import Iterable

import pandas as pd

from rag.core.errors import InputError

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


def _ids(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip()


def validate_queries(frame: pd.DataFrame, source: str | None = None, empty: str = "error") -> pd.DataFrame:
    """Check and normalise a queries table.

    Duplicate ``qid`` values are an error; empty or whitespace-only queries are an error
    (``empty="error"``) or are dropped with a warning giving their count (``empty="drop"``).
    """
    require_columns(frame, QUERY_COLUMNS, "queries", source)
    out = frame.copy()
    out["qid"] = _ids(out["qid"])
    out["query"] = out["query"].fillna("").astype(str)
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
    out["qid"] = _ids(out["qid"])
    out["docno"] = _ids(out["docno"])
    labels = pd.to_numeric(out["label"], errors="coerce")
    if labels.isna().any():
        bad = out.loc[labels.isna(), "label"].iloc[0]
        raise InputError(f"non-numeric relevance label {bad!r}", path=source, field="label")
    out["label"] = labels.astype("int64")
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
    out["qid"] = _ids(out["qid"])
    out["docno"] = _ids(out["docno"])
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
