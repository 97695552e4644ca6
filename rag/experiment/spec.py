"""The one schema of an experiment config: every top-level key, its type and its checks.

:func:`read_spec` turns a YAML mapping (read by :mod:`rag.core.config`, which keeps line numbers) into an
:class:`ExperimentSpec` before any data is loaded: unknown keys, wrong types, names, measures, the baseline,
statistics, reports, the LLM default and the question selection are all checked here, each error naming
the file, the line and the key. The plugins a config names are imported first, so that the measures and
stages they register are known. What needs the data (the dataset's columns, each pipeline's outputs
against its measures) is checked next by :mod:`rag.experiment.check`, still before any stage runs.

.. code-block:: yaml

    name: scifact-bm25
    dataset: {name: scifact}          # or "demo", a path, or {name: questions.jsonl, corpus: ..., qrels: ...}
    measures: [nDCG@10, R@100]
    baseline: BM25
    pipelines:
      BM25: [{bm25: {k1: 0.9, b: 0.4}}]

Names: pipeline (system) names and the experiment's name are Unicode NFC-normalised and stripped, then
compared; two that are equal afterwards (``1`` and ``"1"``, or two spellings of "é") are an error naming
both lines. System names are labels (``BM25 → reader``): the results writer turns them into safe file
stems. The experiment's ``name`` becomes the folder ``results/<name>`` as a safe file stem too (plain names
stay as they are; ``../x``, ``/abs`` or ``.`` can never lead outside ``results/``).
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from rag.core.config import item_line, reject_secrets
from rag.core.errors import ConfigError, RagifError, did_you_mean
from rag.core.registry import names
from rag.evaluation.measures import parse_measure
from rag.evaluation.significance import CORRECTIONS, TESTS
from rag.experiment.plugins import load_plugins
from rag.experiment.queries import check_selection

# key -> (accepted types, meaning); the README's config section and `ragif run --check` follow this table
KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "the experiment's name; results go to `results/<name as a safe file stem>`"),
    "description": (str, "free text, kept in provenance"),
    "plugins": (list, "Python modules or `ragif.plugins` entry points imported first: they register components"),
    "dataset": ((str, dict), "a dataset name or path, or {name, path, corpus, qrels, fields, split_gold, ...}"),
    "split": (str, "the split whose questions run (default: the dataset's)"),
    "queries": (dict, "which questions run: {qids: [...], sample: {n, seed, by}, limit: N}"),
    "measures": (list, "measure names, e.g. nDCG@10, EM, K-Precision, LLMTokens"),
    "pipelines": (dict, "system name -> a stage or a list of stages"),
    "baseline": ((str, int), "the system the others are tested against (default: the first)"),
    "llm": ((str, dict), "the default LLM of every stage that takes one (a stage's own llm wins)"),
    "test": (str, f"paired significance test: {' or '.join(TESTS)}"),
    "correction": (str, f"multiple-comparison correction: {', '.join(CORRECTIONS)}"),
    "alpha": ((int, float), "significance level, strictly between 0 and 1 (default 0.05)"),
    "seed": (int, "random seed, 0 to 2**32-1 (default 42)"),
    "formats": (list, "reports written besides the tables: md, html, tex, plots (default: all four)"),
    "output": (str, "results folder (default: `results/<name>`)"),
    "cache": (str, "cache folder (default: $RAGIF_CACHE or ~/.cache/ragif)"),
    "if_no_llm": (str, "without a working LLM runtime: error, or retrieve (run the retrieval part only)"),
}
REQUIRED = ("dataset", "measures", "pipelines")
IF_NO_LLM = ("error", "retrieve")
DATASET_KEYS = {"name", "path", "corpus", "corpus_download", "qrels", "task", "relations", "distractors", "fields", "split_gold",
                "splits", "config", "revision"}
REPORT_FORMATS = ("md", "html", "tex", "plots")   # what rag.report's writer makes (tests/test_config checks)
MAX_NAME_BYTES = 200


@dataclass
class ExperimentSpec:
    """A checked experiment config: what to load, build, run and write (no data loaded yet)."""

    source: str | None
    dataset: Any
    measures: list[Any]
    pipelines: dict[str, Any]                     # NFC name -> stage spec, in file order
    name: str | None = None
    split: str | None = None
    queries: Mapping[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    llm: Any = None
    test: str = "t-test"
    correction: str = "holm"
    alpha: float = 0.05
    seed: int = 42
    formats: tuple[str, ...] = REPORT_FORMATS
    output: str | None = None
    cache: str | None = None
    if_no_llm: str = "error"
    plugins: list[str] = field(default_factory=list)
    lines: Mapping[str, int] = field(default_factory=dict)          # top-level key -> line
    pipeline_lines: dict[str, int | None] = field(default_factory=dict)
    measure_lines: list[int | None] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)             # the plain mapping, for provenance

    def line(self, key: str) -> int | None:
        return self.lines.get(key)


def read_spec(config: Mapping[str, Any], source: str | None = None, plugins: list[str] | tuple = ()) -> ExperimentSpec:
    """Check a config mapping and read it into an :class:`ExperimentSpec`; ``plugins`` (from the command
    line) are imported with those the config names. Raises :class:`ConfigError` naming file, line and key."""
    if not isinstance(config, Mapping):
        raise ConfigError("a config must be a mapping of keys to values", path=source)
    lines = getattr(config, "lines", {})
    _check_keys(config, source, lines)
    folder = Path(source).resolve().parent if source else None
    loaded = load_plugins(list(plugins), source=None, folder=folder)
    loaded += load_plugins(config.get("plugins", []), source=source, line=lines.get("plugins"), folder=folder)
    pipelines, pipeline_lines = _pipelines(config["pipelines"], source, lines.get("pipelines"))
    measures, measure_lines = _measures(config["measures"], source, lines.get("measures"))
    spec = ExperimentSpec(source=source, dataset=_dataset(config["dataset"], source, lines.get("dataset")),
                          measures=measures, pipelines=pipelines, lines=lines, pipeline_lines=pipeline_lines,
                          measure_lines=measure_lines, plugins=loaded, config=_plain(config))
    if "name" in config:
        spec.name = experiment_name(config["name"], source, lines.get("name"))
    spec.baseline = _baseline(config.get("baseline"), pipelines, source, lines.get("baseline"))
    for key, allowed in (("test", TESTS), ("correction", CORRECTIONS), ("if_no_llm", IF_NO_LLM)):
        if key in config:
            if config[key] not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {config[key]!r}"
                                  f"{did_you_mean(str(config[key]), allowed)}", path=source, line=lines.get(key),
                                  field=key)
            setattr(spec, key, config[key])
    if "seed" in config:
        if not 0 <= config["seed"] < 2**32:
            raise ConfigError(f"seed must be an integer from 0 to {2**32 - 1}, got {config['seed']}", path=source,
                              line=lines.get("seed"), field="seed")
        spec.seed = config["seed"]
    if "alpha" in config:
        if not (math.isfinite(config["alpha"]) and 0 < config["alpha"] < 1):
            raise ConfigError(f"alpha (the significance level) must be between 0 and 1, got {config['alpha']}",
                              path=source, line=lines.get("alpha"), field="alpha")
        spec.alpha = float(config["alpha"])
    if "formats" in config:
        spec.formats = _formats(config["formats"], source, lines.get("formats"))
    if "llm" in config:
        spec.llm = _llm(config["llm"], source, lines.get("llm"))
    check_selection(config.get("queries") or {}, source, lines.get("queries"))
    spec.queries = config.get("queries") or {}
    spec.split, spec.output, spec.cache = config.get("split"), config.get("output"), config.get("cache")
    return spec


def _check_keys(config: Mapping[str, Any], source: str | None, lines: Mapping[str, int]) -> None:
    reject_secrets(config, source)
    for key, value in config.items():
        if key not in KEYS:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(str(key), KEYS)}; allowed: {sorted(KEYS)}",
                              path=source, line=lines.get(str(key)), field=str(key))
        expected = KEYS[key][0]
        if not isinstance(value, expected) or isinstance(value, bool):
            kinds = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise ConfigError(f"{key!r} must be a {kinds}, got {type(value).__name__} {value!r:.80}", path=source,
                              line=lines.get(key), field=key)
    for required in REQUIRED:
        if required not in config:
            raise ConfigError(f"missing required key {required!r}", path=source, field=required)


def normal_name(value: Any, what: str, source: str | None, line: int | None) -> str:
    """A name as compared and shown: its text, NFC-normalised and stripped; empty names, YAML booleans and
    nulls (``yes:``, ``~:``) and control characters are refused."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{what} {value!r} is a YAML {'boolean' if isinstance(value, bool) else 'null'}; quote "
                          f"it if it is meant as a name", path=source, line=line, field=what)
    if not isinstance(value, (str, int, float)):
        raise ConfigError(f"{what} must be a string, got {type(value).__name__}", path=source, line=line, field=what)
    text = unicodedata.normalize("NFC", str(value)).strip()
    if not text:
        raise ConfigError(f"{what} is empty", path=source, line=line, field=what)
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")), None)
    if bad is not None:
        raise ConfigError(f"{what} {text[:60]!r} contains the invisible or control character U+{ord(bad):04X}",
                          path=source, line=line, field=what)
    return text


def experiment_name(value: Any, source: str | None = None, line: int | None = None) -> str:
    """The experiment's ``name``, NFC-normalised. It becomes the folder ``results/<file stem of name>``
    (:func:`rag.core.files.file_stem`): a name such as ``../x`` or ``/abs`` is kept as a label and can never
    lead outside ``results/``."""
    return normal_name(value, "name", source, line)


def _pipelines(value: Mapping[Any, Any], source: str | None, line: int | None) -> tuple[dict[str, Any], dict]:
    if not value:
        raise ConfigError("no pipelines", path=source, line=line, field="pipelines")
    pairs = getattr(value, "key_lines", None) or [(k, None) for k in value]
    out: dict[str, Any] = {}
    where: dict[str, int | None] = {}
    first_key: dict[str, Any] = {}
    for key, key_line in pairs:
        name = normal_name(key, "pipeline name", source, key_line)
        if name in out:
            raise ConfigError(f"pipeline names {_shown_key(first_key[name])} (line {where[name]}) and "
                              f"{_shown_key(key)} (line {key_line}) are the same name {name!r} once read as text and "
                              f"normalised (NFC): rename one", path=source, line=key_line, field="pipelines")
        out[name], where[name], first_key[name] = value[key], key_line, key
    return out, where


def _shown_key(key: Any) -> str:
    if not isinstance(key, str):
        return f"{key!r} (a YAML {type(key).__name__})"
    return repr(key) if unicodedata.is_normalized("NFC", key) else f"{ascii(key)} (not NFC)"


def _baseline(value: Any, pipelines: Mapping[str, Any], source: str | None, line: int | None) -> str | None:
    if value is None:
        return None
    name = normal_name(value, "baseline", source, line)
    if name not in pipelines:
        raise ConfigError(f"baseline {name!r} is not a pipeline name{did_you_mean(name, pipelines)}; the pipelines "
                          f"are {list(pipelines)}", path=source, line=line, field="baseline")
    return name


def _measures(specs: list, source: str | None, line: int | None) -> tuple[list[Any], list[int | None]]:
    """Every measure parsed (names, parameters, cut-offs); a name given twice is an error with both lines."""
    if not specs:
        raise ConfigError("no measures", path=source, line=line, field="measures")
    out, where, seen = [], [], {}
    for index, text in enumerate(specs):
        at = item_line(specs, index, line)
        if not isinstance(text, str):
            raise ConfigError(f"measures are names such as 'nDCG@10', got {text!r}", path=source, line=at,
                              field="measures")
        try:
            measure = parse_measure(text)
        except RagifError as exc:
            raise ConfigError(str(getattr(exc, "reason", exc)), path=source, line=at, field="measures") from None
        if measure.name in seen:
            raise ConfigError(f"measure {text!r} is {measure.name!r} again (first on line {seen[measure.name]})",
                              path=source, line=at, field="measures")
        seen[measure.name] = at
        out.append(measure)
        where.append(at)
    return out, where


def _dataset(value: Any, source: str | None, line: int | None) -> Any:
    if isinstance(value, dict):
        dlines = getattr(value, "lines", {})
        for key in value:
            if key not in DATASET_KEYS:
                raise ConfigError(f"unknown dataset key {key!r}{did_you_mean(str(key), DATASET_KEYS)}; allowed: "
                                  f"{sorted(DATASET_KEYS)}", path=source, line=dlines.get(str(key), line),
                                  field=f"dataset.{key}")
        if not isinstance(value.get("name"), str) or not value["name"].strip():
            raise ConfigError("dataset needs a 'name' (a dataset name or a path)", path=source, line=line,
                              field="dataset.name")
        for key in ("path", "corpus"):
            if key in value and not isinstance(value[key], str):
                raise ConfigError(f"dataset.{key} must be a path{' or an index name' if key == 'corpus' else ''}, got {value[key]!r:.60}", path=source,
                                  line=dlines.get(key, line), field=f"dataset.{key}")
        qrels = value.get("qrels")
        if qrels is not None and not (isinstance(qrels, str) or isinstance(qrels, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in qrels.items())):
            raise ConfigError(f"dataset.qrels is a path (TREC or BEIR qrels) or a mapping split -> path, got "
                              f"{qrels!r:.60}", path=source, line=dlines.get("qrels", line), field="dataset.qrels")
    elif not value.strip():
        raise ConfigError("dataset is empty", path=source, line=line, field="dataset")
    return value


def _formats(value: list, source: str | None, line: int | None) -> tuple[str, ...]:
    out = []
    for index, fmt in enumerate(value):
        at = item_line(value, index, line)
        if fmt == "csv":    # results.csv, per_query.csv and significance.csv are always written
            continue
        if fmt not in REPORT_FORMATS:
            raise ConfigError(f"unknown format {fmt!r}{did_you_mean(str(fmt), REPORT_FORMATS)}; formats are "
                              f"{list(REPORT_FORMATS)} (the CSV tables, provenance and runs are always written)",
                              path=source, line=at, field="formats")
        if fmt not in out:
            out.append(fmt)
    return tuple(out)


def _llm(value: Any, source: str | None, line: int | None) -> Any:
    """The top-level ``llm``: a model name or .gguf path, or ``{backend, model, ...}`` of a known backend."""
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError("llm is empty", path=source, line=line, field="llm")
        return value
    llines = getattr(value, "lines", {})
    if "model" not in value:
        raise ConfigError("llm needs a 'model' (e.g. {backend: openai, model: qwen2.5, base_url: ...})", path=source,
                          line=line, field="llm.model")
    backend = value.get("backend", "llamacpp")
    if backend not in names("llm"):
        raise ConfigError(f"unknown LLM backend {backend!r}{did_you_mean(str(backend), names('llm'))}; use one of "
                          f"{names('llm')}", path=source, line=llines.get("backend", line), field="llm.backend")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
