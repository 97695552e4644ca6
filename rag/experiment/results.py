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
from rag.core.hashing import hash_config, hash_frame



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

    @property
    def measures(self) -> list[str]:
        return list(self.table.columns)

    def save(self, folder: str | Path, formats: Sequence[str] = ("csv", "md", "html", "tex"),
             save_runs: bool = True, plots: bool = True) -> Path:
        """Write the tables, provenance, leaderboards and runs into ``folder`` (atomically, file by file)."""
        from rag.report.board import write_boards

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
                stem = _file_name(system)
                while stem.lower() in used:  # two names that sanitise alike must not overwrite each other
                    stem += "_"
                used.add(stem.lower())
                _save_run(frame, run_dir / stem, self.cache, self.run_keys.get(system))
        if plots and self.baseline and len(self.runs) > 1:
            self._save_plots(folder)  # before the boards, so the HTML page shows them
        write_boards(folder, formats=formats)
        return folder

    def _save_plots(self, folder: Path) -> None:
        """Per-query differences to the baseline on the first measure, as PNG and SVG (cached by content)."""
        measure = self.measures[0]
        stem = f"deltas-{_file_name(measure)}"

        def build(tmp: Path) -> None:
            from rag.report.plots import per_query_deltas

            per_query_deltas(self.per_query, self.baseline, measure, tmp / stem,
                             title=f"{self.name}: per-query {measure} against {self.baseline}")

        if self.cache is None:
            build(folder)
            return
        built = self.cache.artifact("plots", hash_config("deltas-plot", hash_frame(self.per_query), self.baseline,
                                                          measure, self.name, 1), build)
        for path in built.iterdir():
            if path.suffix in (".png", ".svg"):
                tmp = folder / f".{path.name}.tmp"
                shutil.copyfile(path, tmp)
                os.replace(tmp, folder / path.name)

    def __repr__(self) -> str:
        return f"ExperimentResults({self.name!r})\n{self.table.to_string(float_format=lambda v: f'{v:.4f}')}"


def _file_name(system: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in system)
    return safe or "system"


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
