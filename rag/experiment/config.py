"""An :class:`~rag.experiment.Experiment` from a YAML config (read and validated by :mod:`rag.core.config`)."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

from rag.core.build import BuildContext, build_stage
from rag.core.cache import Cache
from rag.core.config import item_line, load_yaml, validate
from rag.core.errors import ConfigError, InputError, RagifError, did_you_mean
from rag.core.schema import check_id
from rag.core.stage import Pipeline, Stage, walk
from rag.datasets import load_dataset
from rag.evaluation.measures import parse_measure
from rag.evaluation.significance import CORRECTIONS, TESTS
from rag.experiment.experiment import Experiment
from rag.llm.stage import LLMStage

log = logging.getLogger(__name__)


def build_experiment(config: dict, source: str | None = None, cache: Any = None):
    """An :class:`~rag.experiment.Experiment` from a validated config mapping."""
    config = validate(config, source)
    lines = getattr(config, "lines", {})
    measures = _measures(config["measures"], source, lines.get("measures"))   # before anything is loaded
    for key, allowed in (("test", TESTS), ("correction", CORRECTIONS)):
        if key in config and config[key] not in allowed:
            raise ConfigError(f"{key} must be one of {list(allowed)}, got {config[key]!r}"
                              f"{did_you_mean(config[key], allowed)}", path=source, line=lines.get(key), field=key)
    spec = config["dataset"]
    split = config.get("split")
    with _config_line(source, lines.get("dataset"), "dataset"):   # an error of the data itself names its file
        if isinstance(spec, str):
            dataset = load_dataset(spec)
        else:
            options = {k: v for k, v in spec.items() if k not in ("name", "path")}
            dataset = load_dataset(spec["name"], path=spec.get("path"), **options)
    with _config_line(source, lines.get("split", lines.get("dataset")), "split" if "split" in config else "dataset"):
        queries = _select_queries(dataset, split, config.get("queries") or {}, source, lines.get("queries"))
    pipelines = {}
    plines = getattr(config["pipelines"], "lines", {})
    for name, stage_spec in config["pipelines"].items():
        context = BuildContext(dataset=dataset, split=split, source=source,
                               lines=getattr(stage_spec, "lines", None) or {k: plines.get(name) for k in
                                                                           _spec_names(stage_spec)})
        pipelines[str(name)] = build_stage(stage_spec, context)
    if "baseline" in config and config["baseline"] not in pipelines:
        raise ConfigError(f"baseline {config['baseline']!r} is not a pipeline name"
                          f"{did_you_mean(config['baseline'], pipelines)}", path=source,
                          line=lines.get("baseline"), field="baseline")
    baseline = config.get("baseline")
    cache = cache if isinstance(cache, Cache) else Cache(cache or config.get("cache"))
    cache.check_location()   # a bad cache folder is the error to report, not a model that cannot be stored there
    if config.get("if_no_llm") == "retrieve":
        pipelines, baseline = _retrieval_part_without_llm(pipelines, baseline)
    plain = _plain(config)
    return Experiment(pipelines, dataset, measures, split=split, baseline=baseline,
                      test=config.get("test", "t-test"), correction=config.get("correction", "holm"),
                      alpha=float(config.get("alpha", 0.05)), cache=cache,
                      seed=config.get("seed", 42), name=config.get("name"), queries=queries, config=plain)


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


@contextlib.contextmanager
def _config_line(source: str | None, line: int | None, key: str) -> Iterator[None]:
    """An :class:`InputError` that names no file is re-raised as a :class:`ConfigError` naming the config
    key that led to it (an error inside a data file keeps that file and line)."""
    try:
        yield
    except InputError as exc:
        if exc.path or isinstance(exc, ConfigError):
            raise
        raise ConfigError(exc.reason, path=source, line=line, field=key) from None


def _select_queries(dataset: Any, split: str | None, selection: dict, source: str | None,
                    line: int | None) -> Any:
    """The queries a config selects (``queries: {qids: [...], limit: N}``, already validated), in dataset order.

    Ids that are not queries of the dataset: an error when none of them is, else skipped with a warning
    that counts them (so a config shared by two splits still runs)."""
    queries = dataset.queries(split)
    qlines = getattr(selection, "lines", {})
    if "qids" in selection:
        wanted = [check_id(q) for q in selection["qids"]]
        known = set(queries["qid"])
        unknown = [q for q in wanted if q not in known]
        where = f"dataset {dataset.name!r} (split {split or dataset.default_split!r})"
        if len(unknown) == len(wanted):
            raise ConfigError(f"none of the {len(wanted)} query id(s) in queries.qids is a query of {where}, e.g. "
                              f"{unknown[:3]}; its ids look like {queries['qid'].head(3).tolist()}", path=source,
                              line=qlines.get("qids", line), field="queries.qids")
        if unknown:
            log.warning("%s:%s: %d of %d query id(s) in queries.qids are not queries of %s and are skipped: %s",
                        source or "config", qlines.get("qids", line), len(unknown), len(wanted), where, unknown[:5])
        queries = queries[queries["qid"].isin(set(wanted))].reset_index(drop=True)
    if "limit" in selection:
        queries = queries.head(int(selection["limit"])).reset_index(drop=True)
    return queries


def _measures(specs: list, source: str | None, line: int | None) -> list[Any]:
    """Every measure parsed and validated (names, parameters, cut-offs): a config error names the line."""
    out = []
    for index, m in enumerate(specs):
        where = item_line(specs, index, line)
        if not isinstance(m, str):
            raise ConfigError(f"measures are names such as 'nDCG@10', got {m!r}", path=source, line=where,
                              field="measures")
        try:
            out.append(parse_measure(m))
        except RagifError as exc:
            raise ConfigError(str(getattr(exc, "reason", exc)), path=source, line=where, field="measures") from None
    return out


def _spec_names(spec: Any) -> list[str]:
    if isinstance(spec, dict):
        return list(spec)
    if isinstance(spec, list):
        return [n for s in spec for n in _spec_names(s)]
    return [spec] if isinstance(spec, str) else []


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_experiment(path: str | Path, cache: Any = None):
    """Read, validate and build the experiment described by a YAML file."""
    return build_experiment(load_yaml(path), source=str(path), cache=cache)


def results_folder(path: str | Path, experiment: Any, output: str | Path | None = None) -> Path:
    """Where an experiment's results go: ``output`` if given, else the config's ``output``, else
    ``results/<experiment name as a file stem>`` (a name can never lead outside ``results/``)."""
    from rag.core.files import file_stem

    return Path(output or load_yaml(path).get("output") or Path("results") / file_stem(experiment.name))
