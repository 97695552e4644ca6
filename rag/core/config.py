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

``queries: {qids: [...], limit: N}`` runs a subset, in dataset order: ``limit`` is a positive integer;
``qids`` a non-empty list of distinct ids (the id rule of :mod:`rag.core.schema`). Listed ids that are not
queries of the dataset's split are skipped with a warning that counts them; when none is, it is an error.
``seed`` is an integer from 0 to 2**32-1 and ``alpha`` lies strictly between 0 and 1.

The YAML is read safely (no tags that build objects) with anchors and aliases bounded
(:data:`MAX_ALIASES` uses adding at most :data:`MAX_ALIAS_NODES` nodes and :data:`MAX_ALIAS_CHARS`
characters), no recursive aliases and at most :data:`MAX_DEPTH` levels of nesting: an exponentially
expanding document is a one-line error naming the alias's line, not a hang.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rag.core.errors import ConfigError, InputError, did_you_mean
from rag.core.schema import check_id

TOP_LEVEL = {
    "name": str, "description": str, "dataset": (str, dict), "split": str, "measures": list,
    "pipelines": dict, "baseline": str, "test": str, "correction": str, "alpha": (int, float),
    "seed": int, "cache": str, "output": str, "queries": dict, "formats": list, "if_no_llm": str,
}
IF_NO_LLM = ("error", "retrieve")   # without a working LLM runtime: fail, or run the retrieval part only
DATASET_KEYS = {"name", "path", "task", "relations", "distractors", "fields", "split_gold", "splits", "config", "revision",
                "corpus", "corpus_download"}
QUERY_KEYS = {"limit", "qids"}


class LineDict(dict):
    """A dict that remembers the line (1-based) of each key in the YAML file."""

    lines: dict[str, int]


# Bounds on what anchors and aliases may add to a document (a "billion laughs" document of a few hundred
# bytes otherwise expands to billions of nodes, and every walk over the config hangs). Far above any real
# config: aliases share pipeline settings a few dozen times.
MAX_ALIASES = 10_000            # alias uses per document
MAX_ALIAS_NODES = 100_000       # nodes added by expanding aliases
MAX_ALIAS_CHARS = 10_000_000    # characters of scalars added by expanding aliases
MAX_DEPTH = 100                 # nesting of sequences and mappings


class _LineLoader(yaml.SafeLoader):
    """The safe loader, keeping line numbers and bounding alias expansion and nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.ragif_path: str | None = None
        self._aliases = self._alias_nodes = self._alias_chars = self._depth = 0
        self._sizes: dict[int, tuple[int, int]] = {}
        self._open_anchors: list[str] = []

    def _fail(self, message: str, mark: Any) -> None:
        raise ConfigError(message, path=self.ragif_path, line=mark.line + 1 if mark else None)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                self._fail(f"alias *{event.anchor} refers to a node that contains it (a recursive alias)",
                           event.start_mark)
            node = super().compose_node(parent, index)
            nodes, chars = self._size(node)
            self._aliases += 1
            self._alias_nodes += nodes
            self._alias_chars += chars
            for count, limit, what in ((self._aliases, MAX_ALIASES, "aliases"),
                                       (self._alias_nodes, MAX_ALIAS_NODES, "nodes added by aliases"),
                                       (self._alias_chars, MAX_ALIAS_CHARS, "characters added by aliases")):
                if count > limit:
                    self._fail(f"YAML anchors and aliases expand too much: at alias *{event.anchor} the document "
                               f"has {count:,} {what} (at most {limit:,})", event.start_mark)
            return node
        anchor = getattr(event, "anchor", None)
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                self._fail(f"YAML nested more than {MAX_DEPTH} levels deep", event.start_mark)
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            if anchor is not None:
                self._open_anchors.pop()
            if nested:
                self._depth -= 1

    def _size(self, node: yaml.Node) -> tuple[int, int]:
        """(nodes, scalar characters) of ``node`` with every alias inside expanded (memoised per node)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            size = (1, len(node.value))
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            sizes = [self._size(child) for child in children]
            size = (1 + sum(n for n, _ in sizes), sum(c for _, c in sizes))
        self._sizes[id(node)] = size
        return size


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
                              path=loader.ragif_path, line=key_node.start_mark.line + 1,
                              field=str(key))
        seen[key] = key_node.start_mark.line + 1
    return mapping


class LineList(list):
    """A list that remembers the line (1-based) of each item in the YAML file."""

    item_lines: list[int]


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_sequence(node, deep=True))
    items.item_lines = [item.start_mark.line + 1 for item in node.value]
    return items


def item_line(items: Any, index: int, default: int | None = None) -> int | None:
    """The line of ``items[index]`` when ``items`` came from a YAML file, else ``default``."""
    lines = getattr(items, "item_lines", None)
    return lines[index] if lines and index < len(lines) else default


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


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
    if path.is_dir():
        raise ConfigError("is a folder, not a config file", path=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config cannot be read ({exc.strerror or exc})", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("config is not valid UTF-8", path=path, line=raw[:exc.start].count(b"\n") + 1) from None
    loader = _LineLoader(text)
    loader.ragif_path = str(path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        what = str(exc.problem or exc.context)
        if exc.context and exc.problem:
            what += f" ({exc.context}" + (f" on line {exc.context_mark.line + 1})" if exc.context_mark else ")")
        raise ConfigError(f"invalid YAML: {what}", path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                          path=path) from None
    except RecursionError:
        raise ConfigError("YAML nested too deeply", path=path) from None
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
    _validate_query_selection(config.get("queries") or {}, source, lines.get("queries"))
    _validate_numbers(config, source, lines)
    if config.get("if_no_llm", "error") not in IF_NO_LLM:
        raise ConfigError(f"if_no_llm must be one of {list(IF_NO_LLM)}, got {config['if_no_llm']!r}", path=source,
                          line=lines.get("if_no_llm"), field="if_no_llm")
    if not config["pipelines"]:
        raise ConfigError("no pipelines", path=source, line=lines.get("pipelines"), field="pipelines")
    return config


def _validate_query_selection(selection: dict, source: str | None, line: int | None) -> None:
    """``queries: {limit: N, qids: [...]}``: a positive integer limit and a non-empty list of valid, distinct
    query ids (whether they are queries of the dataset is checked when it is loaded)."""
    qlines = getattr(selection, "lines", {})
    for key in selection:
        if key not in QUERY_KEYS:
            raise ConfigError(f"unknown queries key {key!r}{did_you_mean(key, QUERY_KEYS)}; allowed: "
                              f"{sorted(QUERY_KEYS)}", path=source, line=qlines.get(key, line), field=f"queries.{key}")
    if "limit" in selection:
        limit = selection["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"queries.limit must be a positive integer (how many queries to run), got {limit!r}",
                              path=source, line=qlines.get("limit", line), field="queries.limit")
    if "qids" in selection:
        qids, where = selection["qids"], qlines.get("qids", line)
        if not isinstance(qids, list) or not qids:
            raise ConfigError(f"queries.qids must be a non-empty list of query ids, got {qids!r:.80}", path=source,
                              line=where, field="queries.qids")
        seen: set[str] = set()
        for position, qid in enumerate(qids):
            try:
                text = check_id(qid, "query id")
            except InputError as exc:
                raise ConfigError(exc.reason, path=source, line=item_line(qids, position, where),
                                  field="queries.qids") from None
            if text in seen:
                raise ConfigError(f"query id {text!r} is listed twice", path=source,
                                  line=item_line(qids, position, where), field="queries.qids")
            seen.add(text)


def _validate_numbers(config: dict, source: str | None, lines: dict) -> None:
    if "seed" in config and not 0 <= config["seed"] < 2**32:
        raise ConfigError(f"seed must be an integer from 0 to {2**32 - 1}, got {config['seed']}", path=source,
                          line=lines.get("seed"), field="seed")
    if "alpha" in config and not 0 < config["alpha"] < 1:
        raise ConfigError(f"alpha (the significance level) must be between 0 and 1, got {config['alpha']}",
                          path=source, line=lines.get("alpha"), field="alpha")
