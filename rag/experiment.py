"""`Experiment`: several pipelines x one dataset x measures -> one results table, cached and resumable.

>>> from rag import Experiment, load_dataset, component
>>> ds = load_dataset("scifact")                                          # doctest: +SKIP
>>> bm25 = component("bm25", corpus=ds.corpus)                            # doctest: +SKIP
>>> res = Experiment({"BM25": bm25}, ds, ["nDCG@10", "R@100"]).run()      # doctest: +SKIP
>>> res.table                                                             # doctest: +SKIP

Every cacheable stage's output is stored under a key made of the stage's configuration and its
input's content, so a re-run is nearly free and a killed run resumes where it stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from rag import __version__
from rag.cache import Cache, atomic_write_text
from rag.datasets import Dataset
from rag.errors import InputError
from rag.evaluate import measure_name, parse_measure, per_query, significance
from rag.hashing import hash_config, hash_frame
from rag.pipeline import Stage
from rag.provenance import git_commit, package_versions, seed_everything

log = logging.getLogger(__name__)


@dataclass
class ExperimentResults:
    """What an experiment produced: the aggregate table, per-query values, significance, runs, provenance."""

    name: str
    table: pd.DataFrame                      # index: system; columns: measures (means)
    per_query: pd.DataFrame                  # system, qid, measure, value
    significance: pd.DataFrame               # see rag.evaluate.significance
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
        from rag.board import write_boards

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
            from rag.plots import per_query_deltas

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


class Experiment:
    """Run ``pipelines`` on ``dataset``'s queries of ``split`` and evaluate with ``measures``.

    ``pipelines``: a mapping name -> stage, or a list of stages (named by their description).
    ``baseline``: the system the others are tested against (paired ``test``, ``correction`` across
    systems). ``cache``: a :class:`Cache`, a folder, or None for the default cache.
    """

    def __init__(self, pipelines: Mapping[str, Stage] | Sequence[Stage], dataset: Dataset,
                 measures: Sequence[Any], split: str | None = None, baseline: str | None = None,
                 test: str = "t-test", correction: str = "holm", alpha: float = 0.05,
                 cache: Cache | str | Path | None = None, seed: int = 42, name: str | None = None,
                 queries: pd.DataFrame | None = None, config: Mapping[str, Any] | None = None):
        if not isinstance(pipelines, Mapping):
            pipelines = {p.describe(): p for p in pipelines}
        if not pipelines:
            raise InputError("an experiment needs at least one pipeline", field="pipelines")
        self.pipelines = dict(pipelines)
        self.dataset = dataset
        self.split = split or dataset.default_split
        # measures that need more of the dataset than its qrels (p-MRR: the changed qrels) bind to it
        self.measures = [m.bind_dataset(dataset, self.split) if hasattr(m, "bind_dataset") else m
                         for m in (parse_measure(m) for m in measures)]
        self.baseline = baseline if baseline is not None else next(iter(self.pipelines))
        if self.baseline not in self.pipelines:
            raise InputError(f"baseline {self.baseline!r} is not one of the pipelines {list(self.pipelines)}",
                             field="baseline")
        self.test, self.correction, self.alpha = test, correction, alpha
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.seed = seed
        self.name = name or f"{dataset.name}-{self.split}"
        self._queries = queries
        self.config = dict(config or {})

    def queries(self) -> pd.DataFrame:
        return self._queries.copy() if self._queries is not None else self.dataset.queries(self.split)

    def fingerprint(self) -> str:
        return hash_config("experiment", self.dataset.fingerprint(), self.split,
                           {k: p.fingerprint() for k, p in self.pipelines.items()},
                           [measure_name(m) for m in self.measures], self.seed, self.baseline, self.test,
                           self.correction, self.alpha)

    def _first_computed(self, key: str) -> str:
        """When these results were first computed (kept in the cache, so a resumed run reports the same)."""
        epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible-builds convention: a fixed date
        if epoch and epoch.strip().isdigit():
            return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record_key = hash_config("experiment-started", key)
        stamp = self.cache.get_json(record_key)
        if stamp is None:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.cache.put_json(record_key, stamp)
        return stamp

    def run(self) -> ExperimentResults:
        key = self.fingerprint()
        started = self._first_computed(key)
        queries = self.queries()
        qrels = self.dataset.qrels(self.split) if self.dataset.has_qrels(self.split) else None
        runs: dict[str, pd.DataFrame] = {}
        frames = []
        timings: dict[str, float] = {}
        run_keys: dict[str, str] = {}
        with self.cache.activate():
            for system, pipeline in self.pipelines.items():
                t0 = time.perf_counter()
                seed_everything(self.seed)
                log.info("running %s: %s", system, pipeline.describe())
                out = pipeline(queries)
                timings[system] = time.perf_counter() - t0
                runs[system] = out
                run_keys[system] = hash_frame(out)
                values = self._evaluate(out, run_keys[system], queries, qrels)
                values.insert(0, "system", system)
                frames.append(values)
        long = pd.concat(frames, ignore_index=True)
        order = [measure_name(m) for m in self.measures]
        table = long.pivot_table(index="system", columns="measure", values="value", aggfunc="mean", sort=False)
        table = table.reindex(index=list(self.pipelines), columns=order)
        table.columns.name = None
        sig_key = hash_config("significance", hash_frame(long), self.baseline, self.test, self.correction, self.alpha)
        sig = self.cache.get_frame(sig_key)
        if sig is None:
            sig = significance(long, self.baseline, self.test, self.correction, self.alpha)
            self.cache.put_frame(sig_key, sig)
        provenance = {
            "experiment": self.name,
            "config_hash": key,
            "dataset": {"name": self.dataset.name, "split": self.split, "fingerprint": self.dataset.fingerprint(),
                        "queries": int(len(queries))},
            "pipelines": {k: p.describe() for k, p in self.pipelines.items()},
            "measures": order,
            "baseline": self.baseline,
            "significance": {"test": self.test, "correction": self.correction, "alpha": self.alpha},
            "seed": self.seed,
            "versions": package_versions(),
            "git": git_commit(),
            "date": started,
            "ragif": __version__,
        }
        if self.config:
            provenance["config"] = self.config
        return ExperimentResults(self.name, table, long, sig, runs, provenance, self.baseline, timings,
                                 run_keys=run_keys, cache=self.cache)

    def _evaluate(self, out: pd.DataFrame, run_key: str, queries: pd.DataFrame,
                  qrels: pd.DataFrame | None) -> pd.DataFrame:
        """Per-query values of one system's output, cached by (output, queries, qrels, measures)."""
        key = hash_config("evaluation", run_key, hash_frame(queries[["qid"]]),
                          hash_frame(qrels) if qrels is not None else None, [measure_name(m) for m in self.measures])
        values = self.cache.get_frame(key)
        if values is None:
            values = per_query(out, qrels, self.measures, qids=queries["qid"])
            self.cache.put_frame(key, values)
        return values
