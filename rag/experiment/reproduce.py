"""Two-click reproductions: each entry names a config, a system, a measure and the score it must give.

The file is the one given (``ragif reproduce FILE``), else ``$RAGIF_REPRODUCTIONS``, else
``experiments/reproductions.yaml`` in the working directory or the nearest folder above it (a ragif checkout).
Configs are run from the project root (the folder above the file's ``experiments/``), so the configs' relative
paths (models, outputs) mean the same wherever the command is started. Runs are cached, so a second check
costs seconds.

.. code-block:: yaml

    - name: scifact-bm25-flat
      config: experiments/scifact_bm25.yaml
      system: BM25
      measure: nDCG@10
      expected: 0.6789
      tolerance: 0.001
      source: Pyserini 2CR (beir.yaml)
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from rag.core.errors import ConfigError, InputError

REPRODUCTIONS_ENV = "RAGIF_REPRODUCTIONS"
DEFAULT_FILE = Path("experiments") / "reproductions.yaml"
ENTRY_KEYS = {"name", "config", "system", "measure", "expected", "tolerance", "source", "needs", "needs_index", "slow"}


def load_reproductions(path: str | Path | None = None) -> list[dict[str, Any]]:
    from rag.core.config import load_yaml_list

    path = reproductions_file(path)
    entries = load_yaml_list(path)
    for i, entry in enumerate(entries):
        lines = getattr(entry, "lines", {})
        if not isinstance(entry, dict):
            raise ConfigError(f"entry {i + 1} is not a mapping", path=path)
        for key in entry:
            if key not in ENTRY_KEYS:
                raise ConfigError(f"unknown key {key!r} in reproduction {entry.get('name', i + 1)!r}", path=path,
                                  line=lines.get(key), field=key)
        for key in ("name", "config", "system", "measure", "expected"):
            if key not in entry:
                raise ConfigError(f"reproduction {entry.get('name', i + 1)!r} lacks {key!r}", path=path, field=key)
    return entries


def data_available(entry: dict[str, Any]) -> bool:
    """Whether the shared data set the entry ``needs`` and the Lucene index it ``needs_index`` (if any) can be
    found on this machine."""
    return missing_data(entry) is None


def missing_data(entry: dict[str, Any]) -> str | None:
    """What the entry needs and this machine lacks (one line), or None."""
    from rag.datasets import NAMED, data_root

    needs = entry.get("needs")
    if needs:
        root = data_root()
        folder = NAMED[needs][1] if needs in NAMED else needs
        if root is None or not (root / folder).exists():
            return f"no data set {needs!r}"
    index = entry.get("needs_index")
    if index:
        from rag.datasets.lucene_index import INDEXES_ENV, resolve_index
        try:
            resolve_index(index)
        except InputError:
            return f"no Lucene index {index!r} (set {INDEXES_ENV} to a folder holding it, or download it with Pyserini)"
    return None


def reproductions_file(path: str | Path | None = None) -> Path:
    """The reproductions file: ``path``, else ``$RAGIF_REPRODUCTIONS``, else :data:`DEFAULT_FILE` in the
    working directory or the nearest folder above it."""
    given = path or os.environ.get(REPRODUCTIONS_ENV)
    if given:
        return Path(given).expanduser().resolve()
    here = Path.cwd()
    for base in (here, *here.parents):
        if (base / DEFAULT_FILE).is_file():
            return (base / DEFAULT_FILE).resolve()
    raise ConfigError(f"no reproductions file: give one (ragif reproduce FILE), set ${REPRODUCTIONS_ENV}, or run "
                      f"inside a ragif checkout (it has {DEFAULT_FILE})")


def project_root(reproductions: Path) -> Path:
    """Where an entry's relative paths start: the folder above ``experiments/`` (else the file's folder)."""
    folder = reproductions.resolve().parent
    return folder.parent if folder.name == "experiments" else folder


def check(entry: dict[str, Any], cache: Any = None, root: Path | None = None) -> dict[str, Any]:
    """Run one reproduction's experiment (from ``root``) and compare the score it gives with the expected one."""
    from rag.experiment.config import load_experiment

    root = root or project_root(reproductions_file())
    cache = str(Path(cache).resolve()) if cache else cache
    with contextlib.chdir(root):
        experiment = load_experiment(entry["config"], cache=cache)
        results = experiment.run()
    if entry["system"] not in results.table.index or entry["measure"] not in results.table.columns:
        raise InputError(f"reproduction {entry['name']!r}: no {entry['system']!r} / {entry['measure']!r} in "
                         f"the results ({list(results.table.index)} x {list(results.table.columns)})")
    got = float(results.table.loc[entry["system"], entry["measure"]])
    tolerance = float(entry.get("tolerance", 0.001))
    return {"name": entry["name"], "measure": entry["measure"], "expected": float(entry["expected"]),
            "got": got, "tolerance": tolerance, "ok": abs(got - float(entry["expected"])) <= tolerance,
            "command": f"ragif run {entry['config']}", "source": entry.get("source", "")}


def run_reproductions(path: str | Path | None = None, only: list[str] | None = None,
                      cache: Any = None) -> list[dict[str, Any]]:
    """Run (selected) reproductions, print a table, return the failures."""
    rows = []
    file = reproductions_file(path)
    root = project_root(file)
    for entry in load_reproductions(file):
        if only and entry["name"] not in only:
            continue
        lacking = missing_data(entry)
        if lacking:
            rows.append({"name": entry["name"], "measure": entry["measure"], "expected": float(entry["expected"]),
                         "got": float("nan"), "tolerance": float(entry.get("tolerance", 0.001)),
                         "ok": f"skipped ({lacking})", "command": f"ragif run {entry['config']}"})
            continue
        try:
            rows.append(check(entry, cache, root))
        except InputError as exc:   # one entry's missing prerequisite (a trained model, a file): the others still run
            rows.append({"name": entry["name"], "measure": entry["measure"], "expected": float(entry["expected"]),
                         "got": float("nan"), "tolerance": float(entry.get("tolerance", 0.001)),
                         "ok": f"error ({exc})", "command": f"ragif run {entry['config']}"})
    table = pd.DataFrame(rows, columns=["name", "measure", "expected", "got", "tolerance", "ok", "command"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return [r for r in rows if r["ok"] is False or str(r["ok"]).startswith("error")]
