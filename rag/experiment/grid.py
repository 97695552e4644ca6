"""An experiment grid: several experiment configs run side by side, one Ray task each (or one after another
in this process), every experiment saving its own results folder.

>>> from rag.experiment.grid import run_grid
>>> done = run_grid(["experiments/scifact_bm25.yaml", "experiments/scifact_dense.yaml"])  # doctest: +SKIP
>>> done[0].table                      # the first config's leaderboard table         # doctest: +SKIP

Workers rebuild each experiment from its config file (configs are data, so nothing but a path crosses to
a worker) and share the cache folder, so a grid re-run is as cheap as a single re-run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from rag.core.cache import Cache
from rag.core.executor import Executor, map_shards


@dataclass(frozen=True)
class GridItem:
    """One experiment of a grid: a config file and where its results go (None: the config's ``output``)."""

    config: str
    output: str | None = None


@dataclass
class GridResult:
    """One finished experiment of the grid: its config, results folder, leaderboard table and seconds."""

    config: str
    output: str
    table: pd.DataFrame
    seconds: float


def _run_one(item: GridItem) -> GridResult:
    import time

    from rag.core.config import load_yaml
    from rag.experiment.config import build_experiment, report_formats, results_folder
    from rag.experiment.results import check_results_folder

    t0 = time.perf_counter()
    cache = Cache.active()
    experiment = build_experiment(load_yaml(item.config), str(item.config), cache=cache, output=item.output,
                                  check_output=True)   # the results folder before any work
    output = check_results_folder(results_folder(item.config, experiment, item.output))
    results = experiment.run()
    formats, plots = report_formats(experiment)
    results.save(output, formats=formats, plots=plots)
    return GridResult(item.config, str(output), results.table, time.perf_counter() - t0)


def run_grid(configs: Sequence[str | Path], outputs: Sequence[str | Path | None] | None = None,
             executor: Executor = "auto", cache: Cache | str | Path | None = None,
             ray_address: str | None = None, num_cpus: int | None = None) -> list[GridResult]:
    """Run every experiment config (``executor``: ``auto``/``ray``/``local``); results in config order."""
    outputs = list(outputs) if outputs is not None else [None] * len(configs)
    if len(outputs) != len(configs):
        raise ValueError(f"{len(configs)} configs but {len(outputs)} outputs")
    items = [GridItem(str(c), str(o) if o is not None else None) for c, o in zip(configs, outputs)]
    active = cache if isinstance(cache, Cache) else Cache(cache)
    with active.activate():
        return map_shards(_run_one, items, executor, address=ray_address, num_cpus=num_cpus)
