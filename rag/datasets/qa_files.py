"""QA sets in one file (JSON lines, JSON, CSV/TSV, parquet) with a field mapping.

>>> data = load_qa_file("evouna-nq.csv", fields={"question": "question", "answers": "golden_answer"},
...                     split_gold=True)                                            # doctest: +SKIP
>>> data.queries().loc[0, "answers"]                                              # doctest: +SKIP
['Ken Branagh', 'Kenneth Branagh']

Each record gives one question. Fields (:class:`QAFields`; a name left out is looked up under its
usual names, listed in brackets):

- ``question`` [question, query]: required;
- ``answers`` [answers, answer, golden_answers, golden_answer, gold_answers, gold_answer,
  possible_answers]: a list of gold strings or one string (see :mod:`rag.datasets.gold`);
- ``qid`` [qid, id, _id, question_id]: default the record number (``q0``, ``q1``, ...);
- ``contexts`` [contexts, ctxs]: passages given with the question, strings or ``{title, text, id}``
  objects; they make the corpus and each question's candidate pool (``Dataset.candidates``), and
  those flagged ``isgold``/``is_gold`` are judged relevant;
- ``gold_passage`` [gold_passage]: the passage that holds the answer (string or object): a corpus
  document judged relevant (the question's ``gold_docno``);
- ``popularity`` [s_pop, popularity]: a number, kept as ``s_pop``;
- ``keep``: further fields copied as columns under their own names (``relation``, ...).

Passages without an id get ``p-<hash of title and text>``, so a passage shared by questions is one document.
Errors name the file, the line (the record number for JSON, parquet and ``datasets`` tables) and the field.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd

from rag.core.errors import ConfigError, InputError, did_you_mean
from rag.core.fields import number_value, text_value
from rag.core.schema import check_id
from rag.core.hashing import hash_config
from rag.datasets.fingerprint import file_fingerprint as hash_file  # memoised by stat
from rag.datasets.base import Corpus, Dataset
from rag.datasets.gold import GoldReport, SplitOption, gold_list, parse_list_cell, separators
from rag.datasets.io import iter_jsonl, open_binary, read_json

log = logging.getLogger(__name__)
Record = tuple[int, Mapping[str, Any]]
ALIASES = {
    "question": ("question", "query"),
    "answers": ("answers", "answer", "golden_answers", "golden_answer", "gold_answers", "gold_answer",
                "possible_answers"),
    "qid": ("qid", "id", "_id", "question_id"),
    "contexts": ("contexts", "ctxs"),
    "gold_passage": ("gold_passage",),
    "popularity": ("s_pop", "popularity"),
}
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class QAFields:
    """Which field of a record holds what (None: look it up under its usual names)."""

    question: str | None = None
    answers: str | None = None
    qid: str | None = None
    contexts: str | None = None
    gold_passage: str | None = None
    popularity: str | None = None
    keep: tuple[str, ...] = ()

    @classmethod
    def of(cls, fields: "QAFields | Mapping[str, Any] | None") -> "QAFields":
        if fields is None or isinstance(fields, QAFields):
            return fields or cls()
        if not isinstance(fields, Mapping):
            raise ConfigError(f"fields must be a mapping like {{'question': 'q', 'answers': 'gold'}}, got "
                              f"{type(fields).__name__}", field="fields")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in fields:
            if key not in known:
                raise ConfigError(f"unknown field role {key!r}{did_you_mean(str(key), known)}; roles: {known}",
                                  field=f"fields.{key}")
        values = dict(fields)
        keep = values.get("keep") or ()
        values["keep"] = (keep,) if isinstance(keep, str) else tuple(keep)
        return cls(**values)

    def resolve(self, keys: Iterable[str]) -> dict[str, str | None]:
        """The field name of each role for records with these ``keys`` (the first record's)."""
        keys = list(keys)
        out = {}
        for role, aliases in ALIASES.items():
            given = getattr(self, role)
            out[role] = given if given is not None else next((a for a in aliases if a in keys), None)
        return out


def suffix_of(path: str | Path) -> str:
    """``.jsonl`` for ``x.jsonl`` and ``x.jsonl.gz``; '' when not a QA file type."""
    suffixes = Path(path).suffixes
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1].lower() if suffixes and suffixes[-1].lower() in SUFFIXES else ""


def iter_records(path: str | Path) -> Iterator[Record]:
    """``(line or record number, record)`` of a JSONL, JSON (a list of objects), CSV/TSV or parquet file."""
    kind = suffix_of(path)
    if kind == ".jsonl":
        yield from iter_jsonl(path)
    elif kind == ".json":
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise InputError("expected a JSON list of question objects", path=path)
        for number, obj in enumerate(data, start=1):
            if not isinstance(obj, dict):
                raise InputError(f"record {number} is a {type(obj).__name__}, not an object", path=path, line=number)
            yield number, obj
    elif kind in (".csv", ".tsv"):
        yield from _iter_delimited(path, "\t" if kind == ".tsv" else ",")
    elif kind == ".parquet":
        if not Path(path).exists():
            raise InputError("file not found", path=path)
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"not a readable parquet file ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                             path=path) from None
        for number, obj in enumerate(frame.to_dict("records"), start=1):
            yield number, obj
    else:
        raise InputError(f"not a QA file type (expected one of {list(SUFFIXES)}, optionally .gz)", path=path)


def _iter_delimited(path: str | Path, delimiter: str) -> Iterator[Record]:
    with open_binary(path) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("not valid UTF-8", path=path, line=raw[: exc.start].count(b"\n") + 1) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty", path=path) from None
    start = reader.line_num + 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise InputError(f"expected {len(header)} fields (as the header), found {len(fields)}",
                                 path=path, line=line)
            yield line, dict(zip(header, fields))
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=path, line=reader.line_num) from None


def _passage(value: Any, path: str, line: int, field: str) -> dict[str, Any]:
    if isinstance(value, str):
        doc = {"title": "", "text": value}
    elif isinstance(value, Mapping):
        key = next((k for k in ("text", "contents", "passage") if value.get(k) is not None), None)
        if key is None:
            raise InputError(f"a passage object needs 'text' (it has {sorted(map(str, value))})", path=path,
                             line=line, field=field)
        gold = value.get("isgold", value.get("is_gold", False))
        if not isinstance(gold, (bool, int)) and gold is not None:
            raise InputError(f"isgold must be true or false, got {gold!r:.40}", path=path, line=line,
                             field=f"{field}.isgold")
        doc = {"title": text_value(value.get("title"), path, line, f"{field}.title", required=False),
               "text": text_value(value[key], path, line, f"{field}.{key}"), "gold": bool(gold)}
        id_key = next((k for k in ("docno", "id", "_id", "passage_id") if value.get(k) not in (None, "")), None)
        if id_key is not None:
            doc["docno"] = check_id(value[id_key], "passage id", path, line, f"{field}.{id_key}")
    else:
        raise InputError(f"a passage must be a string or an object with 'text', got {type(value).__name__}",
                         path=path, line=line, field=field)
    if "docno" not in doc:
        digest = hashlib.blake2b(f"{doc['title']}\n{doc['text']}".encode(), digest_size=8).hexdigest()
        doc["docno"] = f"p-{digest}"
    return doc


def _passages(value: Any, path: str, line: int, field: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        parsed = parse_list_cell(value)
        value = parsed if parsed is not None else [value]
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if hasattr(value, "tolist") and not isinstance(value, (str, Mapping)):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise InputError(f"contexts must be a list of passages, got {type(value).__name__}", path=path, line=line,
                         field=field)
    return [_passage(v, path, line, field) for v in value]


def qa_dataset(records: Iterable[Record], source: str, name: str, fields: QAFields | Mapping | None = None,
               split_gold: SplitOption = False, parse_lists: bool = False, split: str = "test",
               fingerprint: str | None = None) -> Dataset:
    """A :class:`Dataset` from QA records (all read at once; see the module docstring)."""
    return qa_dataset_splits({split: records}, source, name, fields, split_gold, parse_lists, fingerprint)


def qa_dataset_splits(splits: Mapping[str, Iterable[Record]], source: str, name: str,
                      fields: QAFields | Mapping | None = None, split_gold: SplitOption = False,
                      parse_lists: bool = False, fingerprint: str | None = None) -> Dataset:
    """One :class:`Dataset` with a split per entry of ``splits`` (their passages share one corpus)."""
    roles = QAFields.of(fields)
    separators(split_gold)  # check the option before reading anything
    docs: dict[str, dict[str, str]] = {}
    queries, qrels, candidates = {}, {}, {}
    for split, records in splits.items():
        where = source if len(splits) == 1 else f"{source}[{split}]"
        queries[split], qrels[split], candidates[split] = _read_split(records, where, roles, split_gold,
                                                                      parse_lists, docs)
    corpus = Corpus(list(docs.values()), source=source, name=name) if docs else None
    split_names = list(splits)
    default = next((s for s in ("test", "validation", "dev", "train") if s in splits), split_names[0])
    return Dataset(
        name=name, corpus=corpus,
        query_loaders={s: (lambda f=queries[s]: f.copy()) for s in split_names},
        qrels_loaders={s: (lambda f=qrels[s]: f.copy()) for s in split_names if len(qrels[s])},
        candidate_loaders={s: (lambda f=candidates[s]: f.copy()) for s in split_names if len(candidates[s])},
        default_split=default, source=source,
        fingerprint_parts=(fingerprint or "", hash_config(dataclasses.asdict(roles), separators(split_gold),
                                                          parse_lists)),
    )


def _read_split(records: Iterable[Record], source: str, roles: QAFields, split_gold: SplitOption,
                parse_lists: bool, docs: dict[str, dict[str, str]]):
    report = GoldReport(source)
    rows: list[dict[str, Any]] = []
    qrels: list[tuple[str, str, int]] = []
    pool: list[tuple[str, str, float]] = []
    first_line: dict[str, int] = {}
    names: dict[str, str | None] | None = None
    for number, (line, obj) in enumerate(records):
        if names is None:
            names = roles.resolve(obj.keys())
            if names["question"] is None:
                raise InputError(f"no question field (looked for {list(ALIASES['question'])}; the record has "
                                 f"{sorted(obj)}); map it with fields={{'question': ...}}", path=source, line=line,
                                 field="question")
        question = text_value(_get(obj, names["question"], source, line), source, line, names["question"],
                              what="question text")
        qid = check_id(_get(obj, names["qid"], source, line), "question id", source, line, names["qid"]) \
            if names["qid"] else f"q{number}"
        row: dict[str, Any] = {"qid": qid, "query": question}
        if not row["query"].strip():
            raise InputError("empty question", path=source, line=line, field=names["question"])
        if row["qid"] in first_line:
            raise InputError(f"duplicate question id {row['qid']!r} (first on line {first_line[row['qid']]})",
                             path=source, line=line, field=names["qid"])
        first_line[row["qid"]] = line
        if names["answers"]:
            row["answers"] = gold_list(_get(obj, names["answers"], source, line), split=split_gold,
                                       parse_lists=parse_lists, report=report, path=source, line=line,
                                       field_name=names["answers"])
        if names["popularity"]:
            row["s_pop"] = number_value(_get(obj, names["popularity"], source, line), source, line,
                                        names["popularity"], what="popularity")
        for key in roles.keep:
            row[key] = _get(obj, key, source, line)
        if names["gold_passage"]:
            gold = _passage(_get(obj, names["gold_passage"], source, line), source, line, names["gold_passage"])
            _add_doc(docs, gold, source, line, names["gold_passage"])
            row["gold_docno"] = gold["docno"]
            qrels.append((row["qid"], gold["docno"], 1))
        if names["contexts"] and obj.get(names["contexts"]) is not None:
            passages = _passages(obj[names["contexts"]], source, line, names["contexts"])
            for rank, doc in enumerate(passages):
                _add_doc(docs, doc, source, line, names["contexts"])
                pool.append((row["qid"], doc["docno"], float(len(passages) - rank)))
                if doc.get("gold") and (row["qid"], doc["docno"], 1) not in qrels:
                    qrels.append((row["qid"], doc["docno"], 1))
        rows.append(row)
    if not rows:
        raise InputError("no questions", path=source)
    report.warn(len(rows))
    empty = [r["qid"] for r in rows if "answers" in r and not r["answers"]]
    if empty:
        log.warning("%s: %d of %d question(s) have no gold answer (e.g. %s); answer metrics cannot score them",
                    source, len(empty), len(rows), ", ".join(repr(q) for q in empty[:3]))
    pool_frame = pd.DataFrame(pool, columns=["qid", "docno", "score"]).drop_duplicates(["qid", "docno"])
    return (pd.DataFrame(rows), pd.DataFrame(qrels, columns=["qid", "docno", "label"]).drop_duplicates(),
            pool_frame.reset_index(drop=True))


def _get(obj: Mapping[str, Any], key: str | None, source: str, line: int) -> Any:
    if key is None or key not in obj or obj[key] is None:
        raise InputError(f"missing field (the record has {sorted(obj)})", path=source, line=line, field=key)
    return obj[key]


def _add_doc(docs: dict[str, dict[str, str]], doc: dict[str, Any], source: str, line: int, field: str) -> None:
    seen = docs.get(doc["docno"])
    if seen is None:
        docs[doc["docno"]] = {"docno": doc["docno"], "title": doc["title"], "text": doc["text"]}
    elif (seen["title"], seen["text"]) != (doc["title"], doc["text"]):
        raise InputError(f"passage id {doc['docno']!r} names two different texts", path=source, line=line, field=field)


def load_qa_file(path: str | Path, fields: QAFields | Mapping | None = None, split_gold: SplitOption = False,
                 name: str | None = None, split: str = "test") -> Dataset:
    """A QA set from one JSONL/JSON/CSV/TSV/parquet file (see the module docstring).

    ``split_gold``: cut gold strings at separators (``True``: ``|`` and ``/``, EVOUNA-style ``A/B|C``; or a
    string of separator characters); off by default, with a warning counting gold strings that hold one.
    JSON and Python list literals in CSV/TSV cells are read as lists.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    kind = suffix_of(path)
    return qa_dataset(iter_records(path), str(path), name or path.name.split(".")[0], fields, split_gold,
                      parse_lists=kind in (".csv", ".tsv"), split=split, fingerprint=hash_file(path))
