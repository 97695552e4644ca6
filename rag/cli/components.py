"""``ragif components [KEY]``: the component reference, generated from the registry and the stage classes.

Every registry key with its parameters (name, type, default and a one-line meaning), so a config can be
written from the docs alone. ``docs/components.md`` is this module's output (a test keeps it in sync):
``ragif components --markdown > docs/components.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import textwrap
import typing
from functools import lru_cache
from typing import Any

from rag.core.registry import KINDS, location, lookup, names

# the parameters many stages share, documented once (rerankers/base.py and llm/stage.py say the same)
VOCABULARY = {
    "llm": "the LLM: a name (`qwen-0.5b`, the offline default), a .gguf path, or a mapping "
           "`{backend: llamacpp|openai|hf, model: ..., base_url: ..., api_key_env: ...}`",
    "corpus": "filled from the experiment's dataset",
    "dataset": "filled from the experiment's dataset",
    "depth": "how many of each query's top documents are re-scored (or judged)",
    "instruction": "how a query's instruction joins it: `ignore`, `append`, or a template with {query} and "
                   "{instruction}",
    "keep_rest": "keep the documents not put on top (below depth, or not selected) under the others, in their "
                 "old order; false drops them",
    "k": "how many documents per query are returned (retrievers) or read (readers)",
    "rerank": "score only each query's given candidates (input docno) instead of the whole corpus",
    "threads": "CPU threads (not part of the cache key)",
    "device": "`auto` (CUDA when available), `cpu` or `cuda` (not part of the cache key)",
    "batch_size": "items per model call",
    "max_tokens": "most tokens the LLM may generate per call",
    "seed": "random seed",
    "name": "the measure's name",
    "model": "a model name or local folder",
    "k1": "BM25 term-frequency saturation (Lucene's default 0.9 here, as Pyserini)",
    "b": "BM25 length normalisation (0.4, as Pyserini)",
    "fields": "`flat`: title and text in one field; `multifield`: searched as separate fields",
    "with_title": "put the title before the text",
    "max_length": "most tokens per input (longer ones are truncated)",
    "prompt": "the prompt template (see the class's module for its placeholders)",
    "stop": "strings that end a generation",
    "temperature": "sampling temperature (0: greedy)",
    "pipeline": "a nested pipeline (a component spec or a list of them)",
    "pipelines": "nested pipelines, each a component spec or a list of them",
    "stage": "the stage to run (a component spec)",
    "shards": "how many query shards",
    "executor": "`auto` (Ray when installed), `local` or `ray`",
    "ray_address": "an existing Ray cluster (default: $RAY_ADDRESS or a local one)",
    "num_cpus": "CPUs per Ray task",
    "engine": "`auto`, `numba` or `numpy` scoring kernel",
    "mmap": "memory-map the cached index instead of loading it",
    "similarity": "`cosine`, `dot` or `l2`",
    "index": "FAISS index: `flat` (exact), `hnsw` or `ivfpq`",
    "index_shards": "build one FAISS index per row shard and merge their top-k (exact with flat)",
    "query_prefix": "text put before every query (model-specific, e.g. 'query: ')",
    "passage_prefix": "text put before every passage (model-specific, e.g. 'passage: ')",
    "rerank_encode": "encode only the candidates when re-ranking",
    "nlist": "IVF lists", "nprobe": "IVF lists searched", "pq_m": "PQ sub-quantisers", "hnsw_m": "HNSW links per node",
    "ef_search": "HNSW search breadth",
    "scale": "multiply p-MRR by this (100: FollowIR's reporting)",
    "qrels_changed": "the changed-instruction qrels (filled from a FollowIR-style dataset)",
}
_COMMENT = re.compile(r"^\s*(\w+)\s*:[^#]*#\s*(.+?)\s*$")


@lru_cache(maxsize=None)
def _field_comments(cls: type) -> dict[str, str]:
    """``name: type = default  # meaning`` comments of a class and its bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for line in source.splitlines():
            match = _COMMENT.match(line)
            if match and not line.lstrip().startswith(("def ", "return", "#")):
                out[match.group(1)] = match.group(2)
    return out


def _type_name(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    text = text or str(hint)
    text = re.sub(r"\b(typing|rag\.[\w.]+|retrievers\.[\w.]+|collections\.abc)\.", "", text)
    return text.replace("NoneType", "None").replace("ForwardRef(", "").replace("'", "")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:   # type: ignore[misc]
        value = f.default_factory()                       # type: ignore[misc]
    else:
        return "required"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_hints(obj: Any) -> dict[str, Any]:
    """The fields' types. A class whose annotations do not all resolve (a name its module never imports, as in
    a class defined in a notebook or a documentation snippet) gets them field by field; the injected dataset
    types are known by name, and what still does not resolve is shown as written."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - any failure of evaluating an annotation: fall back field by field
        from rag.datasets import Corpus, Dataset
        known = {"Corpus": Corpus, "Dataset": Dataset}
        hints: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            one = type(obj.__name__, (), {"__annotations__": {f.name: f.type}, "__module__": obj.__module__})
            try:
                hints[f.name] = typing.get_type_hints(one, localns=known)[f.name]
            except Exception:  # noqa: BLE001
                hints[f.name] = f.type
        return hints


def parameters(obj: Any) -> list[dict[str, str]]:
    """The configurable parameters of a component class (dataclass fields that a config may set)."""
    if not dataclasses.is_dataclass(obj):
        return []
    hints = _type_hints(obj)
    comments = _field_comments(obj)
    out = []
    for f in dataclasses.fields(obj):
        if not f.init or f.name.startswith("_"):
            continue
        hint = hints.get(f.name)
        injected = any(isinstance(getattr(c, "injected_as", None), str)
                       for c in (typing.get_args(hint) or (hint,)))
        meaning = comments.get(f.name) or VOCABULARY.get(f.name, "")
        if injected:
            meaning = VOCABULARY["corpus"]
        out.append({"name": f.name, "type": _type_name(hint), "default": "from the dataset" if injected else _default(f),
                    "meaning": meaning})
    return out


def summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first


def reference(kind: str = "stage", key: str | None = None) -> str:
    """The reference of ``kind`` (or of one key) as Markdown."""
    keys = [key] if key else names(kind)
    lines: list[str] = []
    for name in keys:
        obj = lookup(name, kind)
        lines += [f"### `{name}`", "", summary(obj) or "(no description)", "", f"`{location(name, kind)}`", ""]
        params = parameters(obj)
        renamed = getattr(obj, "renamed_params", {})
        if params:
            lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
            lines += [f"| `{p['name']}` | {p['type'].replace('|', '&#124;')} | `{p['default']}` | "
                      f"{p['meaning'].replace('|', '&#124;')} |" for p in params]
            lines.append("")
        if renamed:
            lines += ["Old names still accepted (deprecated): " + ", ".join(f"`{o}` → `{n}`" for o, n in renamed.items()),
                      ""]
    return "\n".join(lines)


def document() -> str:
    """docs/components.md: every kind of component."""
    titles = {"stage": "Stages (pipelines: `{key: {params}}`)", "measure": "Measures (`measures: [...]`; also every "
              "ir-measures measure: nDCG@k, AP, R@k, RR@k, P@k, ...)", "dataset": "Datasets", "llm": "LLM backends",
              "report": "Report writers", "encoder": "Encoders of the dense stage (`dense: {backend: KEY}`)",
              "vector-index": "Vector indexes of the dense stage (`dense: {index: KEY, index_params: {...}}`)"}
    parts = ["# Component reference", "",
             "Generated by `ragif components --markdown` from the registry and the classes themselves (a test keeps "
             "this file in sync). Parameters not listed cannot be set from a config.", ""]
    for kind in KINDS:
        if not names(kind):
            continue
        parts += [f"## {titles[kind]}", "", reference(kind)]
    return "\n".join(parts).rstrip() + "\n"


def _cmd_components(args: argparse.Namespace) -> int:
    if args.markdown:
        print(document(), end="")
        return 0
    if args.key:
        kind = next((k for k in KINDS if args.key in names(k)), None) or "stage"
        print(reference(kind, args.key))
        return 0
    for kind in KINDS:
        for name in names(kind):
            obj = lookup(name, kind)
            params = ", ".join(p["name"] for p in parameters(obj))
            print(f"{kind:8s} {name:22s} {summary(obj)[:70]}" + (f"\n{'':31s}({params})" if params else ""))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cp = sub.add_parser("components", help="every registry key with its parameters (the component reference)")
    cp.add_argument("key", nargs="?", help="one component (e.g. reader, cross-encoder, K-Precision)")
    cp.add_argument("--markdown", action="store_true", help="the whole reference as Markdown (docs/components.md)")
    cp.set_defaults(func=_cmd_components)
