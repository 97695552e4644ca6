"""Datasets from ``ir_datasets`` ids (optional dependency; needs the data to be downloadable or cached)."""
from __future__ import annotations

import pandas as pd

from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.datasets.base import Corpus, Dataset


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

    def docs():
        for doc in ds.docs_iter():
            text = getattr(doc, "text", None) or getattr(doc, "body", None) or ""
            yield {"docno": doc.doc_id, "title": getattr(doc, "title", "") or "", "text": text}

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
                   corpus=Corpus(docs, fingerprint=hash_config("irds", dataset_id), name=dataset_id) if ds.has_docs() else None,
                   query_loaders={split: queries} if ds.has_queries() else {},
                   qrels_loaders={split: qrels} if ds.has_qrels() else {},
                   default_split=split, source=f"irds:{dataset_id}",
                   fingerprint_parts=("irds", dataset_id))
