"""An :class:`~rag.experiment.Experiment` from a YAML config, checked whole before any stage runs.

The path of a config, in order: the YAML is read with line numbers (:mod:`rag.core.config`); the schema is
checked and the plugins imported (:mod:`rag.experiment.spec`); the data set is loaded
(:mod:`rag.experiment.data`) and the questions selected (:mod:`rag.experiment.queries`); the pipelines are
built from the registry (:mod:`rag.core.build`); the dry check matches stages and measures against each
other and the data (:mod:`rag.experiment.check`). Only then can :meth:`Experiment.run` start a stage;
``ragif run --check`` stops before it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rag.core.build import BuildContext, build_stage
from rag.core.cache import Cache
from rag.core.config import load_yaml
from rag.core.errors import ConfigError
from rag.core.files import file_stem
from rag.core.stage import Pipeline, Stage, walk
from rag.experiment.check import check_measures, check_pipelines
from rag.experiment.data import config_line, load_config_dataset
from rag.experiment.experiment import Experiment
from rag.experiment.queries import select_queries
from rag.experiment.spec import REPORT_FORMATS, ExperimentSpec, read_spec
from rag.llm.stage import LLMStage

log = logging.getLogger(__name__)


@dataclass
class Checked:
    """What the check of a config found: the spec, the experiment ready to run, and each measure's systems."""

    spec: ExperimentSpec
    experiment: Experiment
    applies: dict[str, list[str]]


def check_experiment(config: dict, source: str | None = None, cache: Any = None, plugins: Sequence[str] = (),
                     output: str | Path | None = None, check_output: bool = False) -> Checked:
    """Everything short of running: schema, plugins, data set, questions, pipelines, the dry check; with
    ``check_output``, the results folder (``output``, else the config's) is checked before anything is loaded."""
    spec = read_spec(config, source, plugins)
    cache = cache if isinstance(cache, Cache) else Cache(cache or spec.cache)
    cache.check_location()   # a bad cache folder is the error to report, before any data set or model is loaded
    if check_output:
        from rag.experiment.results import check_results_folder
        given = output or spec.config.get("output")
        # without a name the folder is named after the data set's split, known once it is loaded: its parent here
        check_results_folder(Path(given) if given else Path("results") / file_stem(spec.name) if spec.name
                             else Path("results"))
    dataset = load_config_dataset(spec.dataset, spec.split, source, spec.line("dataset"))
    split = spec.split or dataset.default_split
    where = f"dataset {dataset.name!r} (split {split!r})"
    with config_line(source, spec.line("split") or spec.line("dataset"), "split" if spec.split else "dataset"):
        queries = select_queries(dataset.queries(spec.split), spec.queries, spec.seed, source, spec.line("queries"),
                                 where)
    stage_lines: dict[int, int | None] = {}
    pipelines: dict[str, Stage] = {}
    for name, stage_spec in spec.pipelines.items():
        context = BuildContext(dataset=dataset, split=spec.split, source=source, llm=spec.llm, stage_lines=stage_lines,
                               lines=getattr(stage_spec, "lines", None))
        pipelines[name] = build_stage(stage_spec, context, spec.pipeline_lines.get(name))
    flows = check_pipelines(pipelines, list(queries.columns), where, source, spec.pipeline_lines, stage_lines)
    applies = check_measures(spec.measures, flows, dataset, spec.split, list(queries.columns), source,
                             spec.measure_lines)
    experiment = Experiment(pipelines, dataset, spec.measures, split=spec.split, baseline=spec.baseline,
                            test=spec.test, correction=spec.correction, alpha=spec.alpha, cache=cache, seed=spec.seed,
                            name=spec.name, queries=queries, config={**spec.config, "plugins": spec.plugins}
                            if spec.plugins else spec.config)
    return Checked(spec, experiment, applies)


def build_experiment(config: dict, source: str | None = None, cache: Any = None, plugins: Sequence[str] = (),
                     output: str | Path | None = None, check_output: bool = False):
    """An :class:`~rag.experiment.Experiment` from a config mapping, checked whole; with ``if_no_llm: retrieve``
    and no working LLM runtime, each pipeline is cut before its first LLM stage (``output``, ``check_output``: see
    :func:`check_experiment`)."""
    checked = check_experiment(config, source, cache, plugins, output, check_output)
    experiment = checked.experiment
    if checked.spec.if_no_llm == "retrieve":
        experiment.pipelines, experiment.baseline = _retrieval_part_without_llm(experiment.pipelines,
                                                                                experiment.baseline)
    return experiment


def load_experiment(path: str | Path, cache: Any = None, plugins: Sequence[str] = ()):
    """Read, check and build the experiment described by a YAML file (``plugins``: more to import)."""
    return build_experiment(load_yaml(path), source=str(path), cache=cache, plugins=plugins)


def results_folder(path: str | Path, experiment: Any, output: str | Path | None = None) -> Path:
    """Where an experiment's results go: ``output`` if given, else the config's ``output``, else
    ``results/<experiment name as a safe file stem>`` (plain names stay as they are)."""
    if output or experiment.config.get("output"):
        return Path(output or experiment.config["output"])
    return Path("results") / file_stem(str(experiment.name))   # bounded, safe, never outside results/


def report_formats(experiment: Any) -> tuple[list[str], bool]:
    """The leaderboard formats a config asks for (``formats:``) and whether plots are wanted."""
    formats = list(experiment.config.get("formats") or REPORT_FORMATS)
    formats = [f for f in formats if f != "csv"]
    return [f for f in formats if f != "plots"], "plots" in formats


def llm_problem(pipelines: dict[str, Stage]) -> str | None:
    """Why the LLMs of these pipelines cannot run here (one line), or None when they load."""
    for stage in (s for p in pipelines.values() for s in walk(p)):
        if isinstance(stage, LLMStage):
            try:
                stage.client
            except Exception as exc:   # a missing runtime or model is reported, not raised
                return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def _uses_llm(stage: Stage) -> bool:
    return any(isinstance(s, LLMStage) for s in walk(stage))


def _retrieval_part_without_llm(pipelines: dict[str, Stage], baseline: str | None) -> tuple[dict[str, Stage], str | None]:
    """Without a working LLM: each pipeline cut before its first LLM stage (closed-book ones dropped)."""
    problem = llm_problem(pipelines)
    if problem is None:
        return pipelines, baseline
    kept: dict[str, Stage] = {}
    for name, pipeline in pipelines.items():
        stages = pipeline.stages if isinstance(pipeline, Pipeline) else [pipeline]
        prefix = []
        for stage in stages:
            if _uses_llm(stage):
                break
            prefix.append(stage)
        if prefix:
            kept[name] = prefix[0] if len(prefix) == 1 else Pipeline(prefix)
    if not kept:
        raise ConfigError(f"no working LLM runtime ({problem}) and no pipeline has a retrieval part to run")
    log.warning("no working LLM runtime (%s): running the retrieval part only (%s); `ragif doctor` says how to "
                "install one", problem, ", ".join(f"{n} dropped" for n in pipelines if n not in kept) or "readers removed")
    return kept, baseline if baseline in kept else next(iter(kept))
