"""Experiment configs in YAML: safely loaded, validated with line numbers, built from the registry.

.. code-block:: yaml

    name: scifact-bm25
    dataset: {name: scifact}          # or "demo", or {name: ..., path: ...}
    split: test
    measures: [nDCG@10, R@100]
    baseline: BM25
    pipelines:
      BM25: [{bm25: {k1: 0.9, b: 0.4}}]
      BM25-multifield: {bm25: {fields: multifield}}

Nothing in a config is imported or evaluated: stage names are registry keys, values are data.
Relative paths are taken from the working directory.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rag.core.errors import ConfigError, did_you_mean

TOP_LEVEL = {
    "name": str, "description": str, "dataset": (str, dict), "split": str, "measures": list,
    "pipelines": dict, "baseline": str, "test": str, "correction": str, "alpha": (int, float),
    "seed": int, "cache": str, "output": str, "queries": dict, "formats": list, "if_no_llm": str,
}
IF_NO_LLM = ("error", "retrieve")   # without a working LLM runtime: fail, or run the retrieval part only
DATASET_KEYS = {"name", "path", "task", "relations", "distractors", "fields", "split_gold", "splits", "config", "revision"}
QUERY_KEYS = {"limit", "qids"}


class LineDict(dict):
    """A dict that remembers the line (1-based) of each key in the YAML file."""

    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> LineDict:
    mapping = LineDict(loader.construct_mapping(node, deep=True))
    mapping.lines = {}
    for key_node, _ in node.value:
        mapping.lines[str(loader.construct_object(key_node, deep=True))] = key_node.start_mark.line + 1
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise ConfigError(f"key {key!r} appears twice (first on line {seen[key]})",
                              path=getattr(loader, "ragif_path", None), line=key_node.start_mark.line + 1,
                              field=str(key))
        seen[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> LineDict:
    """Parse a YAML file safely (no tags that build objects), keeping line numbers."""
    data = _load_any(path)
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values", path=path)
    return data


def _load_any(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ConfigError("config file not found", path=path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("config is not valid UTF-8", path=path, line=raw[:exc.start].count(b"\n") + 1) from None
    loader = _LineLoader(text)
    loader.ragif_path = str(path)  # type: ignore[attr-defined]
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"invalid YAML: {exc.problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    return data


def load_yaml_list(path: str | Path) -> list:
    """Parse a YAML file whose top level is a list (e.g. reproductions)."""
    data = _load_any(path)
    if not isinstance(data, list):
        raise ConfigError("expected a list at the top level", path=path)
    return data


SECRET_KEY = re.compile(r"(^|_)(api_?key|secret|password|passwd|authorization|bearer|access_token|auth_token|"
                        r"hf_token|token)$")


def reject_secrets(value: Any, source: str | None = None, where: str = "", lines: dict | None = None) -> None:
    """Secrets come only from the environment: a config key that looks like one is an error (configs are
    copied into provenance and caches). ``api_key_env: NAME`` (the variable's *name*) is allowed."""
    if isinstance(value, dict):
        here = getattr(value, "lines", lines or {})
        for key, inner in value.items():
            lowered = str(key).lower().replace("-", "_")
            if SECRET_KEY.search(lowered) and lowered not in ("max_token", "eos_token", "pad_token"):
                raise ConfigError(f"{key!r} looks like a secret: configs are recorded in provenance, so put it in an "
                                  f"environment variable and name the variable instead (e.g. api_key_env: "
                                  f"OPENAI_API_KEY)", path=source, line=here.get(key), field=f"{where}{key}")
            reject_secrets(inner, source, f"{where}{key}.", here)
    elif isinstance(value, list):
        for item in value:
            reject_secrets(item, source, where, lines)


def validate(config: dict, source: str | None = None) -> dict:
    """Check top-level keys and their types; raise :class:`ConfigError` naming file, line and key."""
    lines = getattr(config, "lines", {})
    reject_secrets(config, source)
    for key, value in config.items():
        if key not in TOP_LEVEL:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, TOP_LEVEL)}; allowed: {sorted(TOP_LEVEL)}",
                              path=source, line=lines.get(key), field=key)
        expected = TOP_LEVEL[key]
        if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
            names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise ConfigError(f"{key!r} must be a {names}, got {type(value).__name__} {value!r}",
                              path=source, line=lines.get(key), field=key)
    for required in ("dataset", "measures", "pipelines"):
        if required not in config:
            raise ConfigError(f"missing required key {required!r}", path=source, field=required)
    if isinstance(config["dataset"], dict):
        dlines = getattr(config["dataset"], "lines", {})
        for key in config["dataset"]:
            if key not in DATASET_KEYS:
                raise ConfigError(f"unknown dataset key {key!r}{did_you_mean(key, DATASET_KEYS)}",
                                  path=source, line=dlines.get(key), field=f"dataset.{key}")
        if "name" not in config["dataset"]:
            raise ConfigError("dataset needs a 'name'", path=source, line=lines.get("dataset"), field="dataset.name")
    for key in config.get("queries", {}) or {}:
        if key not in QUERY_KEYS:
            raise ConfigError(f"unknown queries key {key!r}{did_you_mean(key, QUERY_KEYS)}", path=source,
                              line=lines.get("queries"), field=f"queries.{key}")
    if config.get("if_no_llm", "error") not in IF_NO_LLM:
        raise ConfigError(f"if_no_llm must be one of {list(IF_NO_LLM)}, got {config['if_no_llm']!r}", path=source,
                          line=lines.get("if_no_llm"), field="if_no_llm")
    if not config["pipelines"]:
        raise ConfigError("no pipelines", path=source, line=lines.get("pipelines"), field="pipelines")
    return config
