"""What an experiment produced (:class:`ExperimentResults`) and how it is written to a results folder."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from rag.core.cache import Cache, atomic_write_text
from rag.core.errors import OutputError
from rag.core.files import file_stems, output_error, writable_folder
from rag.core.hashing import hash_config, hash_frame
from rag.core.registry import lookup, names
from rag.experiment.spreadsheet import write_spreadsheet_copy

RUNS = "runs"


def check_results_folder(folder: str | Path, create: bool = False) -> Path:
    """``folder`` checked to take files (not a file, makeable or there, writable, not full) before any work, or
    one line (:class:`~rag.core.errors.OutputError`) naming it and the reason; ``create`` makes it."""
    return writable_folder(folder, "results folder", create=create)


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
        folder = check_results_folder(folder, create=True)
        stems = file_stems(self.runs) if save_runs else {}
        provenance = {**self.provenance, "run_files": {
            system: f"{RUNS}/{stem}.{'trec' if _is_run(self.runs[system]) else 'jsonl'}"
            for system, stem in stems.items()}} if stems else self.provenance
        target = folder
        try:
            for name, frame, digits in (("results.csv", self.table.reset_index(), "%.6f"),
                                        ("per_query.csv", self.per_query, "%.6f"),
                                        ("significance.csv", self.significance, "%.6g")):
                target = folder / name
                atomic_write_text(target, frame.to_csv(index=False, float_format=digits))
                write_spreadsheet_copy(frame, target, digits)
            target = folder / "provenance.json"
            atomic_write_text(target, json.dumps(provenance, indent=2, sort_keys=True) + "\n")
            if save_runs:
                run_dir = target = folder / RUNS
                run_dir.mkdir(exist_ok=True)
                for system, frame in self.runs.items():
                    target = run_dir / stems[system]
                    _save_run(frame, target, self.cache, self.run_keys.get(system))
                    if system in self.rankings:   # an answering system: its answers (.jsonl), its ranking (.trec)
                        _save_run(self.rankings[system], target, self.cache, hash_frame(self.rankings[system]))
            target = folder
            for writer in names("report"):   # reports read the folder; they are plugins of the results, not parts
                lookup(writer, "report")(folder, formats=formats, plots=plots, cache=self.cache)
        except OutputError:
            raise
        except OSError as exc:   # a full or read-only disk, a name too long: one line, and the cache keeps the work
            raise output_error(exc, target) from None
        return folder

    def __repr__(self) -> str:
        return f"ExperimentResults({self.name!r})\n{self.table.to_string(float_format=lambda v: f'{v:.4f}')}"


def _is_run(frame: pd.DataFrame) -> bool:
    return {"qid", "docno", "score"}.issubset(frame.columns)


def _save_run(frame: pd.DataFrame, stem: Path, cache: Cache | None = None, key: str | None = None) -> None:
    """Write one system's output: a TREC run file (or JSON lines for answer tables). The file's bytes are
    cached by the output's content hash, so re-saving an unchanged run is a copy. Nothing temporary is left
    behind when writing fails."""
    from rag.datasets import write_run

    is_run = _is_run(frame)
    target = stem.parent / f"{stem.name}.{'trec' if is_run else 'jsonl'}"

    def build(folder: Path) -> None:
        if is_run:
            write_run(frame, folder / "run", tag=stem.name)
        else:
            atomic_write_text(folder / "run", frame.to_json(orient="records", lines=True, force_ascii=False))

    if cache is None or key is None:
        build_dir = target.parent / f".{target.name}.{os.getpid()}.build"
        try:
            build_dir.mkdir()
            build(build_dir)
            os.replace(build_dir / "run", target)
        except OSError as exc:   # name the file being written, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        return
    built = cache.artifact("run-files", hash_config("run-file", key, stem.name, is_run), build)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        shutil.copyfile(built / "run", tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise
