"""Datasets: loaders for BEIR folders, TREC files, JSON lines, QA files (JSONL/JSON/CSV/TSV/parquet),
Hugging Face ``datasets`` folders and hub names, ir_datasets ids and named public sets.

>>> from rag.datasets import load_dataset
>>> demo = load_dataset("demo")
>>> demo.queries().columns.tolist()[:2]
['qid', 'query']
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

from rag.core.errors import InputError, did_you_mean
from rag.datasets.base import Corpus, Dataset
from rag.datasets.beir import jsonl_corpus, jsonl_queries, load_beir, load_jsonl_dataset
from rag.datasets.gold import gold_list
from rag.datasets.hf import is_hf_folder, load_hf, load_hf_hub
from rag.datasets.qa_files import QAFields, load_qa_file, suffix_of
from rag.datasets.trec import iter_trec_documents, read_qrels, read_run, read_topics, write_qrels, write_run
from rag.datasets import named

DEMO_PATH = Path(__file__).parent / "demo"

# name -> (loader, folder under the shared data root, default keyword arguments)
NAMED: dict[str, tuple[Callable[..., Dataset], str, dict]] = {
    "scifact": (named.scifact, "scifact", {}),
    "vaswani": (named.vaswani, "vaswani", {}),
    "nq-open": (named.nq_open, "nq-open", {}),
    "nq-rag": (named.nq_rag, "nq-rag", {}),
    "popqa-longtail": (named.popqa_longtail, "popqa-longtail", {}),
    "entityquestions": (named.entityquestions, "entityquestions", {}),
    "hotpotqa": (named.hotpotqa, "hotpotqa", {}),
    "triviaqa": (named.triviaqa, "triviaqa", {}),
    **{f"birco-{t}": (named.birco, f"birco/{t}", {}) for t in named.BIRCO_TASKS},
}


def data_root() -> Path | None:
    """Where the shared public data sets are: ``$RAGIF_DATA``, else the first ``shared/data`` folder in the
    working directory or a folder above it (so a checkout run from inside, beside the data, finds it); None
    when there is none."""
    env = os.environ.get("RAGIF_DATA")
    if env:
        return Path(env)
    here = Path.cwd()
    return next((base / "shared" / "data" for base in (here, *here.parents) if (base / "shared" / "data").is_dir()),
                None)


def demo() -> Dataset:
    """The small built-in demo set shipped with ragif (written for the project)."""
    return load_beir(DEMO_PATH, name="demo")


def load_dataset(name: str, path: str | Path | None = None, **options) -> Dataset:
    """Load a dataset by name or path.

    - ``"demo"``: the built-in demo set;
    - a named public set (``scifact``, ``vaswani``, ``birco-arguana``, ``nq-rag``, ``popqa-longtail``, ...),
      read from ``path`` or from the shared data root (:func:`data_root`);
    - ``"followir"`` with ``path``: a FollowIR-style folder (:mod:`rag.datasets.followir`);
    - ``"irds:<ir_datasets id>"``: an ir_datasets collection (when installed and reachable);
    - ``"hf:<repo>"``: a Hugging Face hub dataset (``config=``, ``splits=``, ``fields=``, ``split_gold=``;
      needs the hub, see :func:`~rag.datasets.hf.load_hf_hub`);
    - a folder written by ``datasets``' ``save_to_disk`` (:func:`~rag.datasets.hf.load_hf`);
    - a QA file ``.jsonl``/``.json``/``.csv``/``.tsv``/``.parquet`` (optionally ``.gz``) with a field mapping
      (``fields=``) and gold-string splitting (``split_gold=``), see :mod:`rag.datasets.qa_files`;
    - a folder path in BEIR layout.

    ``corpus=``: the passages to use instead of (or, for question-only sets such as ``nq-open``, in
    addition to) the set's own: an existing Lucene index folder or Pyserini prebuilt index name
    (:class:`~rag.datasets.lucene_index.LuceneIndexCorpus`; ``corpus_download=True`` fetches a prebuilt one
    where its hub is reachable) or a BEIR ``corpus.jsonl`` file.
    """
    corpus, download = options.pop("corpus", None), options.pop("corpus_download", False)
    dataset = _load(name, path, **options)
    if corpus is not None:
        dataset = dataclasses.replace(dataset, corpus=open_corpus(corpus, download=download), _memo={})
    return dataset


def open_corpus(spec: str | Path, download: bool = False) -> Corpus:
    """A corpus from a JSON-lines file (``_id``, ``title``, ``text``; ``.gz`` allowed), a BEIR folder (its
    ``corpus.jsonl``), an existing Lucene index folder or a Pyserini prebuilt index name (``download=True``
    fetches it where its hub is reachable); streamed or served from disk, never held whole."""
    path = Path(str(spec)).expanduser()
    if path.is_dir():
        path = next((p for p in (path / "corpus.jsonl", path / "corpus.jsonl.gz") if p.exists()), path)
    if path.is_dir() or not path.exists() and "/" not in str(spec) and not path.suffix:
        from rag.datasets.lucene_index import LuceneIndexCorpus
        return LuceneIndexCorpus(spec, download=download)   # an index folder, or a prebuilt index's name
    if not path.exists():
        raise InputError(f"corpus not found (relative paths are taken from the working directory, {Path.cwd()})",
                         path=path, field="corpus")
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise InputError("a corpus is a JSON-lines file of {_id, title, text} (.jsonl or .jsonl.gz), a BEIR "
                         "folder, a Lucene index folder or a Pyserini prebuilt index name", path=path, field="corpus")
    return jsonl_corpus(path, name=path.name.split(".")[0])


def _load(name: str, path: str | Path | None = None, **options) -> Dataset:
    if name == "demo":
        return demo()
    if name == "followir":
        from rag.datasets.followir import load_followir
        if path is None:
            raise InputError("dataset 'followir' needs path= (a folder in the FollowIR layout)", field="path")
        return load_followir(path, **options)
    if name.startswith("irds:"):
        from rag.datasets.irds import load_ir_datasets
        return load_ir_datasets(name[len("irds:"):], **options)
    if name.startswith("hf:"):
        return load_hf_hub(name[len("hf:"):], **options)
    if name in NAMED:
        loader, folder, defaults = NAMED[name]
        if path is None:
            root = data_root()
            if root is None:
                raise InputError(f"dataset {name!r} needs a path (no shared data folder found; "
                                 f"set RAGIF_DATA or pass path=)")
            path = root / folder
        if not Path(path).exists():
            raise InputError(f"dataset {name!r} not found", path=path)
        return loader(path, **{**defaults, **options})
    candidate = Path(path or name)
    if is_hf_folder(candidate):
        return load_hf(candidate, **options)
    if candidate.is_dir():
        return load_beir(candidate, **options)
    if suffix_of(candidate):
        return load_qa_file(candidate, **options)
    raise InputError(f"unknown dataset {name!r}{did_you_mean(name, [*NAMED, 'demo'])}; "
                     f"known: {sorted([*NAMED, 'demo'])}, 'irds:<id>', 'hf:<repo>', a BEIR or datasets folder, "
                     f"or a QA file (.jsonl .json .csv .tsv .parquet)")


__all__ = ["Corpus", "Dataset", "load_dataset", "open_corpus",
           "load_beir", "load_jsonl_dataset", "jsonl_corpus", "load_qa_file",
           "load_hf", "load_hf_hub", "QAFields", "gold_list",
           "jsonl_queries", "read_run", "write_run", "read_qrels", "write_qrels", "read_topics",
           "iter_trec_documents", "data_root", "demo", "NAMED"]
