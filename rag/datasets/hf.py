"""Hugging Face ``datasets`` QA sets: a local ``save_to_disk`` folder, or a hub name when a hub is reachable.

>>> data = load_hf("my-nq-folder", fields={"answers": "golden_answers"})           # doctest: +SKIP
>>> data = load_dataset("hf:nq_open", split="validation")                           # doctest: +SKIP

Rows are read with the field mapping of :mod:`rag.datasets.qa_files` (question, gold answers, optional
contexts / gold passage, popularity, kept fields), so errors name the folder (and split), the row and
the field. A ``DatasetDict`` folder gives one ragif split per split; a single ``Dataset`` folder gives
the split ``split`` (default ``test``). Needs the ``datasets`` package (``pip install 'ragif[hf]'``);
reading a folder works offline.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.datasets.fingerprint import files_fingerprint as hash_files  # memoised by stat
from rag.datasets.base import Dataset
from rag.datasets.gold import SplitOption
from rag.datasets.qa_files import QAFields, Record, qa_dataset_splits

MARKERS = ("dataset_dict.json", "state.json")


def is_hf_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``datasets``' ``save_to_disk``."""
    root = Path(path)
    return root.is_dir() and any((root / m).is_file() for m in MARKERS)


def _datasets():
    try:
        import datasets  # type: ignore
    except ImportError:
        raise MissingDependencyError("datasets", extra="hf", purpose="Hugging Face datasets") from None
    return datasets


def _rows(table: Any) -> Iterator[Record]:
    for number, row in enumerate(table, start=1):
        yield number, row


def _splits(loaded: Any, split: str) -> dict[str, Any]:
    if isinstance(loaded, dict):  # a DatasetDict (a dict of Dataset)
        return {str(name): loaded[name] for name in loaded.keys()}
    return {split: loaded}


def _only(tables: dict[str, Any], keep: str | list[str] | None, source: str) -> dict[str, Any]:
    if keep is None:
        return tables
    wanted = [keep] if isinstance(keep, str) else list(keep)
    missing = [s for s in wanted if s not in tables]
    if missing:
        raise InputError(f"no split {missing[0]!r}; the data has {sorted(tables)}", path=source, field="splits")
    return {s: tables[s] for s in wanted}


def load_hf(path: str | Path, fields: QAFields | Mapping | None = None, split_gold: SplitOption = False,
            name: str | None = None, split: str = "test", splits: str | list[str] | None = None) -> Dataset:
    """A QA set from a ``datasets`` ``save_to_disk`` folder (offline).

    ``split``: the ragif split name of a single ``Dataset`` folder; ``splits``: which splits of a
    ``DatasetDict`` folder to read (default all). ``fields`` / ``split_gold``: see
    :func:`rag.datasets.qa_files.load_qa_file`.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError("Hugging Face dataset folder not found", path=root)
    if not is_hf_folder(root):
        raise InputError(f"not a datasets save_to_disk folder (no {' or '.join(MARKERS)})", path=root)
    datasets = _datasets()
    try:
        loaded = datasets.load_from_disk(str(root))
    except Exception as exc:  # damaged folders raise several types
        raise InputError(f"cannot read the datasets folder ({type(exc).__name__}: {_first_line(exc)})",
                         path=root) from None
    tables = _only(_splits(loaded, split), splits, str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return qa_dataset_splits({s: _rows(t) for s, t in tables.items()}, str(root), name or root.name, fields,
                             split_gold, fingerprint=hash_files(files))


def load_hf_hub(repo: str, config: str | None = None, fields: QAFields | Mapping | None = None,
                split_gold: SplitOption = False, splits: str | list[str] | None = None,
                revision: str | None = None, name: str | None = None) -> Dataset:
    """A QA set from the Hugging Face hub (``datasets.load_dataset(repo, config)``); needs the hub to be
    reachable, else one clear line (an :class:`InputError`) says it is not."""
    datasets = _datasets()
    source = f"hf:{repo}" + (f"/{config}" if config else "")
    try:
        loaded = datasets.load_dataset(repo, config, revision=revision)
    except Exception as exc:
        raise InputError(_hub_failure(repo, exc)) from None
    tables = _only(_splits(loaded, "train"), splits, source)
    fingerprint = hash_config("hf-hub", repo, config, revision,
                              {s: getattr(t, "_fingerprint", None) for s, t in tables.items()})
    return qa_dataset_splits({s: _rows(t) for s, t in tables.items()}, source, name or repo.split("/")[-1], fields,
                             split_gold, fingerprint=fingerprint)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _hub_failure(repo: str, exc: BaseException) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on") or \
        os.environ.get("HF_DATASETS_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    kind = type(exc).__name__
    if offline:
        return (f"Hugging Face dataset {repo!r} cannot be loaded: the hub is switched off (HF_HUB_OFFLINE=1) and it "
                f"is not in the local cache; save it with datasets' save_to_disk where the hub is reachable and "
                f"load that folder")
    if kind in ("DatasetNotFoundError", "RepositoryNotFoundError", "FileNotFoundError"):
        return f"Hugging Face dataset {repo!r} not found on the hub ({_first_line(exc)})"
    return (f"Hugging Face dataset {repo!r} cannot be loaded: the hub is not reachable or refused "
            f"({kind}: {_first_line(exc)}); load a save_to_disk folder instead")
