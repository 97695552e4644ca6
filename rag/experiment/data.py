"""The data set a config names: ``dataset:`` as a name or path, or a mapping that can add a passages corpus
and relevance judgements to a QA file.

.. code-block:: yaml

    dataset: scifact                                   # a named set, a BEIR folder or a QA file
    dataset:
      name: questions.jsonl                            # questions with gold answers (any QA file)
      corpus: passages.jsonl                           # JSON lines {_id, title, text}, or a BEIR folder
      qrels: qrels.tsv                                 # TREC or BEIR qrels for the split (or {split: file})
      fields: {question: q, answers: gold}             # loader options (QA files: fields, split_gold, ...)

``corpus`` replaces a corpus the questions brought (their ``contexts``), with a warning; ``qrels`` given
as one file are those of the config's ``split`` (else the data set's default split).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any, Iterator

from rag.core.errors import ConfigError, InputError
from rag.core.hashing import hash_file, hash_frame
from rag.datasets import Dataset, load_dataset, open_corpus, read_qrels

log = logging.getLogger(__name__)
LOADER_ONLY = ("name", "path", "corpus", "corpus_download", "qrels")   # keys read here; the others go to the loader


@contextlib.contextmanager
def config_line(source: str | None, line: int | None, key: str) -> Iterator[None]:
    """An :class:`InputError` that names no file is re-raised as a :class:`ConfigError` naming the config key
    that led to it (an error inside a data file keeps that file and line)."""
    try:
        yield
    except InputError as exc:
        if exc.path or isinstance(exc, ConfigError):
            raise
        raise ConfigError(exc.reason, path=source, line=line, field=key) from None


def load_config_dataset(value: Any, split: str | None = None, source: str | None = None,
                        line: int | None = None) -> Dataset:
    """The data set of a checked ``dataset:`` value (see the module docstring)."""
    lines = getattr(value, "lines", {})
    with config_line(source, line, "dataset"):
        if isinstance(value, str):
            return load_dataset(value)
        options = {k: v for k, v in value.items() if k not in LOADER_ONLY}
        dataset = load_dataset(value["name"], path=value.get("path"), **options)
    if "corpus" in value:
        if "/" in value["corpus"] or Path(value["corpus"]).suffix:   # a file or folder, not an index name
            _exists(value["corpus"], "corpus", source, lines.get("corpus", line))
        with config_line(source, lines.get("corpus", line), "dataset.corpus"):
            dataset = with_corpus(dataset, value["corpus"], download=bool(value.get("corpus_download", False)))
    if "qrels" in value:
        files = value["qrels"] if isinstance(value["qrels"], dict) else {split or dataset.default_split: value["qrels"]}
        for file in files.values():
            _exists(file, "qrels", source, lines.get("qrels", line))
        with config_line(source, lines.get("qrels", line), "dataset.qrels"):
            dataset = with_qrels(dataset, files)
    return dataset


def _exists(path: str, key: str, source: str | None, line: int | None) -> None:
    if not Path(path).exists():
        raise ConfigError(f"{key} file not found: {path} (relative paths are taken from the working directory, "
                          f"{Path.cwd()})", path=source, line=line, field=f"dataset.{key}")


def with_corpus(dataset: Dataset, spec: str | Path, download: bool = False) -> Dataset:
    """``dataset`` with its passages taken from ``spec`` (see :func:`rag.datasets.open_corpus`)."""
    corpus = open_corpus(spec, download=download)
    if dataset.corpus is not None:
        log.warning("dataset %r: its own corpus (%s) is replaced by %s", dataset.name, dataset.corpus.source, spec)
    return dataclasses.replace(dataset, corpus=corpus, _memo={})


def with_qrels(dataset: Dataset, files: dict[str, str]) -> Dataset:
    """``dataset`` with the relevance judgements of each split read from a TREC or BEIR qrels file."""
    loaders = dict(dataset.qrels_loaders)
    # the data set's identity keeps what it was (its files, or the content of its questions) plus the qrels
    parts = list(dataset.fingerprint_parts) or [hash_frame(dataset.queries(s)) for s in dataset.splits]
    for split, file in files.items():
        path = Path(file)
        if split not in dataset.splits:
            raise InputError(f"qrels for split {split!r}, but data set {dataset.name!r} has the splits "
                             f"{dataset.splits}", field="qrels")
        if not path.is_file():
            raise InputError("qrels file not found", path=path)
        loaders[split] = lambda path=path: read_qrels(path)
        parts.append(("qrels", split, hash_file(path)))
    return dataclasses.replace(dataset, qrels_loaders=loaders, fingerprint_parts=tuple(parts), _memo={})
