"""Datasets from ``ir_datasets`` ids (optional dependency; needs the data to be downloadable or cached).

Passage text by id comes from ir_datasets' own ``docs_store()`` (built once by ir_datasets beside its
files), never from a pass over the documents."""
from __future__ import annotations

from typing import Any

import pandas as pd

from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.datasets.base import Corpus, Dataset
from rag.datasets.docstore import LookupDocStore


def _title_and_text(doc: Any) -> tuple[str, str]:
    text = getattr(doc, "text", None) or getattr(doc, "body", None) or ""
    return str(getattr(doc, "title", "") or ""), str(text)


class IrdsDocStore(LookupDocStore):
    """Titles and texts by id from an ir_datasets data set's ``docs_store()``."""

    def __init__(self, dataset: Any, source: str):
        self.dataset = dataset
        self.source = source
        self._store = None
        self._len: int | None = None

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = self.dataset.docs_store()
        return self._store

    def __len__(self) -> int:
        if self._len is None:
            count = self.dataset.docs_count()
            self._len = int(count) if count is not None else sum(1 for _ in self.dataset.docs_iter())
        return self._len

    def lookup(self, docnos: list[str]) -> dict[str, Any]:
        return self.store.get_many(docnos)

    def title_and_text(self, value: Any) -> tuple[str, str]:
        return _title_and_text(value)


class IrdsCorpus(Corpus):
    """The documents of an ir_datasets data set; its docstore is ir_datasets' own."""

    def __init__(self, dataset: Any, dataset_id: str):
        def docs():
            for doc in dataset.docs_iter():
                title, text = _title_and_text(doc)
                yield {"docno": doc.doc_id, "title": title, "text": text}
        super().__init__(docs, fingerprint=hash_config("irds", dataset_id), name=dataset_id,
                         source=f"irds:{dataset_id}")
        self._irds = IrdsDocStore(dataset, f"irds:{dataset_id}")

    def docstore(self) -> IrdsDocStore:
        if self._store is None:
            self._store = self._irds
        return self._irds

    def __len__(self) -> int:
        return len(self._irds)


def load_ir_datasets(dataset_id: str) -> Dataset:
    """An ``ir_datasets`` collection, e.g. ``beir/scifact/test``; one split named after the id."""
    try:
        import ir_datasets  # type: ignore
    except ImportError:
        raise MissingDependencyError("ir_datasets", purpose=f"loading 'irds:{dataset_id}'") from None
    try:
        ds = ir_datasets.load(dataset_id)
    except KeyError:
        raise InputError(f"ir_datasets has no dataset {dataset_id!r}") from None

    def queries() -> pd.DataFrame:
        rows = []
        for q in ds.queries_iter():
            text = getattr(q, "text", None) or getattr(q, "title", None) or ""
            row = {"qid": q.query_id, "query": text}
            for extra in ("instruction", "narrative", "description"):
                if getattr(q, extra, None):
                    row[extra] = getattr(q, extra)
            rows.append(row)
        return pd.DataFrame(rows)

    def qrels() -> pd.DataFrame:
        return pd.DataFrame([(r.query_id, r.doc_id, r.relevance) for r in ds.qrels_iter()],
                            columns=["qid", "docno", "label"])

    split = dataset_id.rsplit("/", 1)[-1]
    return Dataset(name=dataset_id,
                   corpus=IrdsCorpus(ds, dataset_id) if ds.has_docs() else None,
                   query_loaders={split: queries} if ds.has_queries() else {},
                   qrels_loaders={split: qrels} if ds.has_qrels() else {},
                   default_split=split, source=f"irds:{dataset_id}",
                   fingerprint_parts=("irds", dataset_id))
