"""BEIR-layout folders and JSON-lines files with a field mapping."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from rag.core.errors import InputError
from rag.core.fields import text_value
from rag.datasets.fingerprint import file_fingerprint as hash_file  # memoised by stat
from rag.datasets.fingerprint import files_fingerprint as hash_files
from rag.core.schema import check_id
from rag.datasets.base import Corpus, Dataset
from rag.datasets.gold import GoldReport, SplitOption, gold_list, separators
from rag.datasets.io import count_lines, get_field, iter_jsonl
from rag.datasets.trec import read_qrels

CORPUS_FIELDS = {"docno": "_id", "title": "title", "text": "text"}
QUERY_FIELDS = {"qid": "_id", "query": "text"}
TEXT_COLUMNS = ("instruction", "instruction_changed", "short_query")   # extra query columns that models read


def jsonl_corpus(path: str | Path, fields: Mapping[str, str] = CORPUS_FIELDS, name: str | None = None) -> Corpus:
    """A corpus streamed from a JSON-lines file; ``fields`` maps ``docno/title/text`` to the file's keys
    (``title`` optional)."""
    path = Path(path)
    if not path.exists():
        raise InputError("corpus file not found", path=path)

    def docs():
        for line, obj in iter_jsonl(path):
            title = fields.get("title", "title")
            yield {"docno": get_field(obj, fields["docno"], path, line),   # checked by Corpus (the id rule)
                   "title": text_value(obj.get(title), path, line, title, required=False),
                   "text": text_value(get_field(obj, fields["text"], path, line), path, line, fields["text"]),
                   "_line": line}

    return Corpus(docs, fingerprint=hash_file(path), source=str(path), name=name or path.parent.name,
                  count=lambda: count_lines(path))


def jsonl_queries(path: str | Path, fields: Mapping[str, str] = QUERY_FIELDS,
                  extra: Mapping[str, str] | None = None, split_gold: SplitOption = False) -> pd.DataFrame:
    """Queries from a JSON-lines file: ``fields`` maps ``qid/query`` to the file's keys; ``extra`` maps
    further output columns (``answers``, ``instruction``, metadata) to keys, copied when present.

    ``answers`` become lists of gold strings; ``split_gold`` cuts them at separators (``True``: ``|`` and
    ``/``, EVOUNA-style; or a string of separator characters), see :mod:`rag.datasets.gold`.
    """
    report = GoldReport(str(path))
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, obj in iter_jsonl(path):
        row = {"qid": check_id(get_field(obj, fields["qid"], path, line), "query id", path, line, fields["qid"]),
               "query": text_value(get_field(obj, fields["query"], path, line), path, line, fields["query"])}
        if row["qid"] in first_line:
            raise InputError(f"duplicate query id {row['qid']!r} (first on line {first_line[row['qid']]})",
                             path=path, line=line, field=fields["qid"])
        first_line[row["qid"]] = line
        if not row["query"].strip():
            raise InputError(f"empty query text for query id {row['qid']!r}", path=path, line=line,
                             field=fields["query"])
        for column, key in (extra or {}).items():
            if key in obj:
                row[column] = obj[key]
                if column in TEXT_COLUMNS:   # text a model reads: a list or an object here is an error
                    row[column] = text_value(obj[key], path, line, key, required=False) if obj[key] is not None \
                        else None
        if "answers" in row:
            row["answers"] = gold_list(row["answers"], split=split_gold, report=report, path=path, line=line,
                                       field_name=(extra or {})["answers"])
        rows.append(row)
    if not rows:
        raise InputError("no queries in file", path=path)
    report.warn(len(rows))
    frame = pd.DataFrame(rows)
    if "answers" in frame.columns:  # questions without the field get an empty list
        frame["answers"] = [a if isinstance(a, list) else [] for a in frame["answers"]]
    return frame


def _gold_part(split_gold: SplitOption) -> tuple[str, ...]:
    """The gold-splitting option in a fingerprint (nothing when off, so existing fingerprints stay)."""
    chars = separators(split_gold)
    return (f"split_gold={chars}",) if chars else ()


def _as_answer_list(value: Any, path: str | Path) -> list[str]:
    """Gold answers of the named loaders: a list of strings (never split; see :mod:`rag.datasets.gold`)."""
    return gold_list(value, path=path)


def load_beir(path: str | Path, name: str | None = None, query_file: str = "queries.jsonl",
              split_query_files: Mapping[str, str] | None = None, instruction: str | None = None,
              answers_field: str | None = "answers", split_gold: SplitOption = False) -> Dataset:
    """A BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    Each split's queries are those judged in its qrels file (the BEIR convention); a split can take its
    queries from another file via ``split_query_files`` (e.g. SciFact's ``queries-train.jsonl``).
    ``split_gold``: see :func:`jsonl_queries`.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError("BEIR dataset folder not found", path=root)
    corpus_path = root / "corpus.jsonl"
    if not corpus_path.exists():
        gz = root / "corpus.jsonl.gz"
        corpus_path = gz if gz.exists() else corpus_path
    qrels_dir = root / "qrels"
    splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
    if not splits:
        raise InputError("no qrels/<split>.tsv files", path=qrels_dir)
    extra = {"answers": answers_field} if answers_field else {}
    extra["instruction"] = "instruction"

    def make_queries(split: str):
        qfile = root / (split_query_files or {}).get(split, query_file)

        def load() -> pd.DataFrame:
            queries = jsonl_queries(qfile, extra=extra, split_gold=split_gold)
            judged = set(read_qrels(qrels_dir / f"{split}.tsv")["qid"])
            return queries[queries["qid"].isin(judged)].reset_index(drop=True)
        return load

    def make_qrels(split: str):
        return lambda: read_qrels(qrels_dir / f"{split}.tsv")

    files = [corpus_path, *(qrels_dir / f"{s}.tsv" for s in splits),
             *sorted({root / (split_query_files or {}).get(s, query_file) for s in splits})]
    return Dataset(
        name=name or root.name,
        corpus=jsonl_corpus(corpus_path, name=name or root.name),
        query_loaders={s: make_queries(s) for s in splits},
        qrels_loaders={s: make_qrels(s) for s in splits},
        default_split="test" if "test" in splits else splits[0],
        instruction=instruction,
        source=str(root),
        fingerprint_parts=(hash_files([f for f in files if f.exists()]), *_gold_part(split_gold)),
    )


def load_jsonl_dataset(corpus: str | Path | None = None, queries: str | Path | None = None,
                       qrels: str | Path | None = None, name: str = "jsonl",
                       corpus_fields: Mapping[str, str] = CORPUS_FIELDS,
                       query_fields: Mapping[str, str] = QUERY_FIELDS,
                       query_extra: Mapping[str, str] | None = None, split: str = "test",
                       split_gold: SplitOption = False) -> Dataset:
    """A dataset from separate JSON-lines files with field mappings (qrels: TREC or BEIR TSV);
    ``split_gold``: see :func:`jsonl_queries`."""
    if queries is None:
        raise InputError("a JSONL dataset needs a queries file")
    extra = dict(query_extra or {"answers": "answers", "instruction": "instruction"})
    files = [Path(p) for p in (corpus, queries, qrels) if p is not None]
    return Dataset(
        name=name,
        corpus=jsonl_corpus(corpus, corpus_fields, name=name) if corpus is not None else None,
        query_loaders={split: lambda: jsonl_queries(queries, query_fields, extra, split_gold)},
        qrels_loaders={split: (lambda: read_qrels(qrels))} if qrels is not None else {},
        default_split=split,
        source=str(queries),
        fingerprint_parts=(hash_files(files), *_gold_part(split_gold)),
    )
