"""FollowIR-style datasets: queries with an original and a changed instruction, two sets of qrels, and a
candidate pool per query (METHODS.md §2).

Local folder layout (the Hugging Face configs of ``jhu-clsp/{robust04,core17,news21}-instructions``
saved as files)::

    corpus.jsonl                  _id, title (optional), text
    queries.jsonl                 _id, text, instruction_og, instruction_changed (+ keywords, short_query)
    qrels_og.tsv                  or qrels_og/test.tsv: BEIR TSV (query-id corpus-id score) or TREC qrels
    qrels_changed.tsv             or qrels_changed/test.tsv
    top_ranked.jsonl              qid, pid (a list of candidate ids)   or top_ranked.tsv (query-id corpus-id)

``qrels()`` are the **original** qrels (the headline MAP/nDCG is computed against them; some mteb
revisions swapped the two when loading, see METHODS.md §2.3); ``qrels_changed()`` the changed ones.
The queries' ``instruction`` column is the original instruction, ``instruction_changed`` the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from rag.core.errors import InputError, MissingDependencyError
from rag.core.schema import check_id, validate_qrels
from rag.datasets.fingerprint import files_fingerprint as hash_files  # memoised by stat
from rag.datasets.base import Dataset
from rag.datasets.beir import jsonl_corpus, jsonl_queries
from rag.datasets.io import iter_jsonl
from rag.datasets.trec import read_qrels

# Headline measure of each FollowIR task (FollowIR scripts/gather_results.py).
HEADLINE = {"robust04": "AP@1000", "core17": "AP@1000", "news21": "nDCG@5"}


@dataclass
class FollowIRDataset(Dataset):
    """A :class:`Dataset` with a second set of qrels for the changed instructions."""

    changed_qrels_loaders: dict[str, Callable[[], pd.DataFrame]] = field(default_factory=dict)

    def qrels_changed(self, split: str | None = None) -> pd.DataFrame:
        split = self._split(split)
        if split not in self.changed_qrels_loaders:
            raise InputError(f"dataset {self.name!r} has no changed qrels for split {split!r}")
        key = ("qrels_changed", split)
        if key not in self._memo:
            self._memo[key] = validate_qrels(self.changed_qrels_loaders[split](), source=self.source)
        return self._memo[key].copy()

    def headline_measure(self) -> str:
        """MAP@1000 (Robust04, Core17) or nDCG@5 (News21); MAP@1000 for other names."""
        return next((m for task, m in HEADLINE.items() if task in self.name.lower()), "AP@1000")


def _first(root: Path, *names: str) -> Path:
    for name in names:
        if (root / name).exists():
            return root / name
    raise InputError(f"none of {list(names)} found", path=root)


def _read_top_ranked(path: Path) -> pd.DataFrame:
    if path.suffix != ".jsonl":
        pool = read_qrels(path)[["qid", "docno"]]
    else:
        rows = []
        for line, obj in iter_jsonl(path):
            qkey = "qid" if "qid" in obj else "query-id"
            pkey = "pid" if "pid" in obj else "corpus-id"
            qid, pids = obj.get(qkey), obj.get(pkey)
            if qid is None or pids is None:
                raise InputError("a top_ranked line needs 'qid' and 'pid'", path=path, line=line, field="pid")
            qid = check_id(qid, "query id", path, line, qkey)
            for pid in (pids if isinstance(pids, list) else [pids]):
                rows.append((qid, check_id(pid, "document id", path, line, pkey)))
        pool = pd.DataFrame(rows, columns=["qid", "docno"])
    return pool.drop_duplicates().assign(score=0.0).reset_index(drop=True)


def load_followir(path: str | Path, name: str | None = None) -> FollowIRDataset:
    """A FollowIR-style dataset from a local folder (layout in the module docstring)."""
    root = Path(path)
    if not root.is_dir():
        raise InputError("FollowIR dataset folder not found", path=root)
    corpus_file = _first(root, "corpus.jsonl", "corpus.jsonl.gz")
    query_file = _first(root, "queries.jsonl")
    og_file = _first(root, "qrels_og.tsv", "qrels_og/test.tsv", "qrels_og.txt")
    changed_file = _first(root, "qrels_changed.tsv", "qrels_changed/test.tsv", "qrels_changed.txt")
    top_file = _first(root, "top_ranked.jsonl", "top_ranked.tsv", "top_ranked/test.tsv")
    extra = {"instruction": "instruction_og", "instruction_changed": "instruction_changed",
             "keywords": "keywords", "short_query": "short_query"}

    def queries() -> pd.DataFrame:
        frame = jsonl_queries(query_file, extra=extra)
        for column in ("instruction", "instruction_changed"):
            if column not in frame.columns:
                raise InputError(f"queries lack {extra[column]!r}", path=query_file, field=extra[column])
        judged = set(read_qrels(og_file)["qid"])
        return frame[frame["qid"].isin(judged)].reset_index(drop=True)

    name = name or root.name
    return FollowIRDataset(
        name=name, corpus=jsonl_corpus(corpus_file, name=name),
        query_loaders={"test": queries}, qrels_loaders={"test": lambda: read_qrels(og_file)},
        candidate_loaders={"test": lambda: _read_top_ranked(top_file)},
        changed_qrels_loaders={"test": lambda: read_qrels(changed_file)},
        source=str(root), description="FollowIR-style instruction-following re-ranking",
        fingerprint_parts=(hash_files([corpus_file, query_file, og_file, changed_file, top_file]),))


def save_followir_from_hub(repo: str, folder: str | Path) -> Path:
    """Write a FollowIR task from the Hugging Face hub (e.g. ``jhu-clsp/core17-instructions``) into
    ``folder`` in the local layout; needs the ``datasets`` package and network access."""
    try:
        from datasets import load_dataset as hf_load
    except ImportError as exc:
        raise MissingDependencyError("datasets", purpose="FollowIR data from the Hugging Face hub") from exc
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {}
    for config in ("corpus", "queries", "qrels_og", "qrels_changed", "top_ranked"):
        data = hf_load(repo, config)
        tables[config] = next(iter(data.values())).to_pandas()
    tables["corpus"].to_json(folder / "corpus.jsonl", orient="records", lines=True, force_ascii=False)
    tables["queries"].to_json(folder / "queries.jsonl", orient="records", lines=True, force_ascii=False)
    for config in ("qrels_og", "qrels_changed"):
        tables[config][["query-id", "corpus-id", "score"]].to_csv(folder / f"{config}.tsv", sep="\t", index=False)
    tables["top_ranked"].to_json(folder / "top_ranked.jsonl", orient="records", lines=True, force_ascii=False)
    return folder
