"""What an experiment produced (:class:`ExperimentResults`) and how it is written to a results folder."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rag.core.cache import Cache, atomic_write_text
from rag.core.files import file_stem
from rag.core.hashing import hash_config, hash_frame
from rag.core.registry import lookup, names


@dataclass
class ExperimentResults:
    """What an experiment produced: the aggregate table, per-query values, significance, runs, provenance."""

    name: str
    table: pd.DataFrame                      # index: system; columns: measures (means)
    per_query: pd.DataFrame                  # system, qid, measure, value
    significance: pd.DataFrame               # see rag.evaluation.significance.significance
    runs: dict[str, pd.DataFrame]
    provenance: dict[str, Any]
    baseline: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    run_keys: dict[str, str] = field(default_factory=dict)   # content hash of each system's output
    cache: Cache | None = field(default=None, repr=False)
    rankings: dict[str, pd.DataFrame] = field(default_factory=dict)   # the ranking that fed an answering system

    @property
    def measures(self) -> list[str]:
        return list(self.table.columns)

    def save(self, folder: str | Path, formats: Sequence[str] = ("csv", "md", "html", "tex"),
             save_runs: bool = True, plots: bool = True) -> Path:
        """Write the tables, provenance and runs into ``folder`` (atomically, file by file), then the reports
        (leaderboards in ``formats``, one per-query plot per measure) through the registered report writers."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "results.csv", self.table.reset_index().to_csv(index=False, float_format="%.6f"))
        atomic_write_text(folder / "per_query.csv", self.per_query.to_csv(index=False, float_format="%.6f"))
        atomic_write_text(folder / "significance.csv", self.significance.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(folder / "provenance.json", json.dumps(self.provenance, indent=2, sort_keys=True) + "\n")
        if save_runs:
            run_dir = folder / "runs"
            run_dir.mkdir(exist_ok=True)
            used: set[str] = set()
            for system, frame in self.runs.items():
                stem = file_stem(system)
                while stem.lower() in used:  # two names that sanitise alike must not overwrite each other
                    stem += "_"
                used.add(stem.lower())
                _save_run(frame, run_dir / stem, self.cache, self.run_keys.get(system))
                if system in self.rankings:   # an answering system: its answers (.jsonl) and its ranking (.trec)
                    _save_run(self.rankings[system], run_dir / stem, self.cache, hash_frame(self.rankings[system]))
        for writer in names("report"):   # reports read the folder; they are plugins of the results, not parts
            lookup(writer, "report")(folder, formats=formats, plots=plots, cache=self.cache)
        return folder

    def __repr__(self) -> str:
        return f"ExperimentResults({self.name!r})\n{self.table.to_string(float_format=lambda v: f'{v:.4f}')}"


def _save_run(frame: pd.DataFrame, stem: Path, cache: Cache | None = None, key: str | None = None) -> None:
    """Write one system's output: a TREC run file (or JSON lines for answer tables). The file's bytes are
    cached by the output's content hash, so re-saving an unchanged run is a copy."""
    from rag.datasets import write_run

    is_run = {"qid", "docno", "score"}.issubset(frame.columns)
    target = stem.parent / f"{stem.name}.{'trec' if is_run else 'jsonl'}"

    def build(folder: Path) -> None:
        if is_run:
            write_run(frame, folder / "run", tag=stem.name)
        else:
            atomic_write_text(folder / "run", frame.to_json(orient="records", lines=True, force_ascii=False))

    if cache is None or key is None:
        build_dir = target.parent / f".{target.name}.build"
        build_dir.mkdir(exist_ok=True)
        build(build_dir)
        os.replace(build_dir / "run", target)
        build_dir.rmdir()
        return
    built = cache.artifact("run-files", hash_config("run-file", key, stem.name, is_run), build)
    tmp = target.parent / f".{target.name}.tmp"
    shutil.copyfile(built / "run", tmp)
    os.replace(tmp, target)
