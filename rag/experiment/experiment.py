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

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from rag import __version__
from rag.core.cache import EVALUATIONS, Cache
from rag.core.errors import InputError
from rag.core.hashing import hash_config, hash_frame
from rag.core.progress import scope as progress_scope
from rag.core.provenance import git_commit, package_versions, seed_everything
from rag.core.stage import Stage, trace_rankings
from rag.datasets import Dataset
from rag.evaluation import code_version
from rag.evaluation.measures import measure_identity, measure_info, parse_measure
from rag.evaluation.scoring import measure_values
from rag.evaluation.significance import significance
from rag.experiment.results import ExperimentResults
from rag.experiment.system_values import fed_ranking
from rag.llm.stage import llm_provenance

log = logging.getLogger(__name__)


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

    def fingerprint(self, queries: pd.DataFrame | None = None) -> str:
        """The experiment's identity (the config hash of its boards): data, the questions chosen (``queries``, if
        already at hand), systems, measures and statistics."""
        queries = self.queries() if queries is None else queries
        return hash_config("experiment", self.dataset.fingerprint(), self.split, hash_frame(queries),
                           {k: p.fingerprint() for k, p in self.pipelines.items()},
                           [measure_identity(m) for m in self.measures], self.seed, self.baseline, self.test,
                           self.correction, self.alpha)

    def _first_computed(self, key: str) -> str:
        """When these results were first computed (kept in the cache, so a resumed run reports the same)."""
        epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible-builds convention: a fixed date
        if epoch and epoch.strip().isdigit():
            return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record_key = hash_config("experiment-started", key)
        stamp = self.cache.get_json(record_key, kind=None)
        if stamp is None:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.cache.put_json(record_key, stamp, kind=None)
        return stamp

    def run(self) -> ExperimentResults:
        queries = self.queries()  # one frame for every system: hashed once (rag.core.hashing.hash_frame)
        key = self.fingerprint(queries)
        started = self._first_computed(key)
        qrels = self.dataset.qrels(self.split) if self.dataset.has_qrels(self.split) else None
        runs: dict[str, pd.DataFrame] = {}
        rankings: dict[str, pd.DataFrame] = {}
        frames, notes = [], {}
        timings: dict[str, float] = {}
        run_keys: dict[str, str] = {}
        with self.cache.activate():
            for system, pipeline in self.pipelines.items():
                t0 = time.perf_counter()
                seed_everything(self.seed)
                log.info("running %s: %s", system, pipeline.describe())
                with trace_rankings() as seen, progress_scope(system):
                    out = pipeline(queries)
                timings[system] = time.perf_counter() - t0
                runs[system] = out
                ranking, retrieved_for = fed_ranking(out, seen)
                if ranking is not None and ranking is not out:
                    rankings[system] = ranking
                run_keys[system] = hash_frame(out)
                values, why = self._evaluate(out, ranking, retrieved_for, run_keys[system], queries, qrels)
                values.insert(0, "system", system)
                frames.append(values)
                if why:
                    notes[system] = why
                _warn_lost_questions(system, out, queries)
        long = pd.concat(frames, ignore_index=True)
        order = [m.name for m in self.measures]
        table = long.pivot_table(index="system", columns="measure", values="value", aggfunc="mean", sort=False,
                                 dropna=False)
        table = table.reindex(index=list(self.pipelines), columns=order)
        table.columns.name = None
        sig_key = hash_config("significance", hash_frame(long), self.baseline, self.test, self.correction, self.alpha)
        sig = self.cache.get_frame(sig_key, kind=EVALUATIONS)
        if sig is None:
            sig = significance(long, self.baseline, self.test, self.correction, self.alpha)
            self.cache.put_frame(sig_key, sig, kind=EVALUATIONS)
        provenance = {
            "experiment": self.name,
            "config_hash": key,
            "dataset": {"name": self.dataset.name, "split": self.split, "fingerprint": self.dataset.fingerprint(),
                        "queries": int(len(queries))},
            "pipelines": {k: p.describe() for k, p in self.pipelines.items()},
            "llms": {k: v for k, v in ((k, llm_provenance(p)) for k, p in self.pipelines.items()) if v},
            "measures": order,
            "measure_info": {m.name: measure_info(m) for m in self.measures},
            "not_applicable": notes,
            "n": _scored(long),
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
                                 run_keys=run_keys, cache=self.cache, rankings=rankings)

    def _evaluate(self, out: pd.DataFrame, ranking: pd.DataFrame | None, retrieved_for: set[str] | None,
                  run_key: str, queries: pd.DataFrame,
                  qrels: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, str]]:
        """Per-query values (and not-applicable notes) of one system by the one evaluation path
        (:func:`~rag.evaluation.scoring.measure_values`), cached by the output, the ranking that fed it, the
        questions it retrieved for, the queries, the qrels and every measure's identity (its parameters and
        what else decides its values, such as the LLM judge in use)."""
        key = hash_config("evaluation", 3, code_version(), run_key,
                          hash_frame(ranking) if ranking is not None and ranking is not out else None,
                          sorted(retrieved_for) if retrieved_for is not None else None,
                          hash_frame(queries[["qid"]]), hash_frame(qrels) if qrels is not None else None,
                          [measure_identity(m) for m in self.measures])
        values, notes = self.cache.get_frame(key, kind=EVALUATIONS), self.cache.get_json(key + "-notes", kind=None)
        if values is None or notes is None:
            values, notes = measure_values(out, qrels, self.measures, queries["qid"].astype(str).tolist(),
                                           ranking, retrieved_for)
            self.cache.put_frame(key, values, kind=EVALUATIONS)
            self.cache.put_json(key + "-notes", notes, kind=None)
        return values, notes


def _scored(long: pd.DataFrame) -> dict[str, dict[str, int]]:
    """How many questions each measure scored per system (n; a measure that does not apply is absent)."""
    counts = long.dropna(subset=["value"]).groupby(["system", "measure"], sort=False).size()
    out: dict[str, dict[str, int]] = {}
    for (system, measure), n in counts.items():
        out.setdefault(str(system), {})[str(measure)] = int(n)
    return out


def _warn_lost_questions(system: str, out: pd.DataFrame, queries: pd.DataFrame) -> None:
    """An answering system must answer every question: say (with counts) when rows went missing."""
    if "answer" not in out.columns:
        return
    lost = set(queries["qid"].astype(str)) - set(out["qid"].astype(str))
    if lost:
        log.warning("%s: %d of %d questions have no answer row (a stage dropped them); their answer measures are "
                    "not scored (e.g. %s)", system, len(lost), len(queries), sorted(lost)[:3])
