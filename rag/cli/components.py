"""``ragif components [KEY]``: the component reference, generated from the registry and the stage classes.

Every registry key with its parameters (name, type, default and a one-line meaning, with the allowed values
where they are a fixed set: templates, modes, LLM backends and their offline models), so a config can be
written from the docs alone. Stages and measures are read from their dataclass fields, LLM backends from
their constructors, so a new parameter appears here by itself. ``docs/components.md`` is this module's
Markdown output (a test keeps it in sync): ``ragif components --markdown > docs/components.md``; in a
terminal, ``ragif components KEY`` prints plain text.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shutil
import textwrap
import typing
from functools import lru_cache
from typing import Any, Callable

from rag.cli.vocabulary import VOCABULARY, vocabulary
from rag.core.registry import KINDS, location, lookup, names

_COMMENT = re.compile(r"^\s*(\w+)\s*:[^#]*#\s*(.+?)\s*$")
# the meaning of LLM backend constructor parameters that their docstrings do not describe
LLM_VOCABULARY = {
    "model": "the model: a name, a path or what the server serves (required)",
    "name": "the name the LLM is recorded under (default: from the model)",
    "base_url": "the server's OpenAI-compatible API root",
    "api_key_env": "the environment variable holding the API key (the key itself never goes in a config)",
    "timeout": "seconds allowed for each network wait of a request (connect, send, each read) before it is retried",
    "retries": "further attempts after a failed request",
    "backoff": "seconds before the first retry (doubled each time)",
    "max_backoff": "the longest wait between retries, in seconds",
    "concurrency": "requests in flight at once (the server's number of slots)",
    "top_logprobs": "log-probabilities asked for per generated token (option probabilities)",
    "threads": "CPU threads (not part of the cache key)",
    "n_ctx": "context window in tokens",
    "n_batch": "tokens evaluated per llama.cpp batch",
    "n_gpu_layers": "layers offloaded to the GPU (0: CPU only)",
    "chat_template": "a Jinja chat template (default: the model file's)",
    "reuse_prefix": "reuse the KV cache of a shared prompt prefix (`exact`: only where the result is bit-identical)",
    "device": "`cpu` or `cuda` (default: CUDA when available)",
    "dtype": "weights' dtype (`auto`: the model's)",
}


def _templates() -> list[str]:
    from rag.readers.prompts import TEMPLATES
    return [*sorted(TEMPLATES), "or a custom string containing {query}"]


def _gguf_models() -> list[str]:
    from rag.llm.gguf import GGUF_MODELS
    return [*sorted(GGUF_MODELS), "or a path to a .gguf file"]


def _constant(module: str, attribute: str) -> Callable[[], list[str]]:
    """The string values of a module's constant (a tuple, a Literal alias or a dict's keys), read when asked."""
    def values() -> list[str]:
        import importlib
        found = getattr(importlib.import_module(module), attribute, ())
        found = typing.get_args(found) or found
        return [v for v in found if isinstance(v, str)]
    return values


# allowed values kept in the code rather than in a field's type (a Literal type shows its own):
# (kind, key or None for every key, parameter) -> the values
ALLOWED: dict[tuple[str, str | None, str], Callable[[], list[str]]] = {
    ("stage", None, "template"): _templates,
    ("stage", "dense", "runtime"): lambda: names("encoder"),
    ("stage", "dense", "index"): lambda: names("vector-index"),
        ("stage", None, "executor"): _constant("rag.core.executor", "Executor"),
    ("llm", "llamacpp", "model"): _gguf_models,
    ("llm", "llamacpp", "reuse_prefix"): _constant("rag.llm.backends.llamacpp", "REUSE_MODES"),
}


def allowed_values(kind: str, key: str | None, parameter: str) -> list[str]:
    """The allowed values of a parameter that the code keeps in a constant ([] when open or typed)."""
    values = ALLOWED.get((kind, key, parameter)) or ALLOWED.get((kind, None, parameter))
    try:
        return values() if values else []
    except ImportError:   # an optional part that is not installed: its values are not known here
        return []


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
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Union or (args and type(hint).__name__ == "UnionType"):
        return " | ".join(_type_name(a) for a in args)
    text = getattr(hint, "__name__", None) if not args else None
    text = text or str(hint)
    text = re.sub(r"\b(typing|pandas\.core\.frame|pandas|rag\.[\w.]+|retrievers\.[\w.]+|collections\.abc)\.", "", text)
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


def parameters(obj: Any, kind: str = "stage", key: str | None = None) -> list[dict[str, str]]:
    """The parameters a config may set on a component: a stage's or measure's dataclass fields, an LLM
    backend's constructor arguments (``model`` first); each with type, default, meaning and allowed values."""
    if kind == "llm":
        return _backend_parameters(obj, key)
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
        if kind == "stage" and f.name == "llm":
            meaning += "; when left out, the config's top-level `llm` if it has one"
        typed = typing.get_origin(hint) is typing.Literal    # a Literal type shows its values itself
        out.append({"name": f.name, "type": _type_name(hint), "default": "from the dataset" if injected else _default(f),
                    "meaning": meaning, "allowed": [] if typed else allowed_values(kind, key, f.name)})
    return out


_DOC_PARAM = re.compile(r"``(\w+)``: ([^;]+?)(?:;|\.\s|\.$|$)")


def _backend_parameters(cls: Any, key: str | None) -> list[dict[str, str]]:
    """An LLM backend's options: its constructor's keyword arguments with their defaults (the first
    positional one is the spec's ``model``); meanings from the class docstring (````name``: meaning;``),
    else :data:`LLM_VOCABULARY`."""
    doc = " ".join((inspect.getdoc(cls) or "").split())
    documented = {m.group(1): m.group(2).strip() for m in _DOC_PARAM.finditer(doc)}
    rows = []
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    for index, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        name = "model" if index == 0 else p.name
        hint = "str" if index == 0 else _type_name(p.annotation) if p.annotation is not p.empty else ""
        default = "required" if p.default is p.empty else repr(p.default)
        said = documented.get(p.name, "")    # the backend's own words win when they read as one clause
        meaning = said if said and said.count("(") == said.count(")") and not said.startswith("`") \
            else LLM_VOCABULARY.get(name, said)
        rows.append({"name": name, "type": hint, "default": default, "meaning": meaning,
                     "allowed": allowed_values("llm", key, name)})
    return rows


def summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first


def _meaning(p: dict[str, Any], markdown: bool) -> str:
    values = p.get("allowed") or []
    if not values:
        return p["meaning"]
    shown = [v if v.startswith("or ") else (f"`{v}`" if markdown else v) for v in values]
    return f"{p['meaning']}{'; ' if p['meaning'] else ''}one of {', '.join(shown)}".replace(", or ", " or ")


def reference(kind: str = "stage", key: str | None = None) -> str:
    """The reference of ``kind`` (or of one key) as Markdown."""
    keys = [key] if key else names(kind)
    lines: list[str] = []
    for name in keys:
        obj = lookup(name, kind)
        lines += [f"### `{name}`", "", summary(obj) or "(no description)", "", f"`{location(name, kind)}`", ""]
        params = parameters(obj, kind, name)
        if params:
            lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
            lines += [f"| `{p['name']}` | {p['type'].replace('|', '&#124;')} | `{p['default']}` | "
                      f"{_meaning(p, True).replace('|', '&#124;')} |" for p in params]
            lines.append("")
    return "\n".join(lines)


def _plain(text: str) -> str:
    """Text without Markdown or reST markup, for a terminal."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "").replace("`", "")


def plain_reference(kind: str, key: str, width: int | None = None) -> str:
    """One component's reference as plain text (a terminal's ``ragif components KEY``)."""
    width = width or min(100, shutil.get_terminal_size((100, 24)).columns)
    obj = lookup(key, kind)
    lines = [f"{key} ({kind}, {location(key, kind)})"]
    lines += textwrap.wrap(_plain(summary(obj) or "(no description)"), width, initial_indent="  ",
                           subsequent_indent="  ")
    params = parameters(obj, kind, key)
    if params:
        lines += ["", "parameters:"]
    for p in params:
        head = f"  {p['name']}" + (f" ({p['type']})" if p["type"] else "") + f", default {p['default']}"
        lines.append(head)
        lines += textwrap.wrap(_plain(_meaning(p, False)), width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def config_keys() -> str:
    """The experiment config's own keys (from :mod:`rag.experiment.spec`), as Markdown."""
    from rag.experiment.data import LOADER_ONLY
    from rag.experiment.queries import QUERY_KEYS, SAMPLE_KEYS
    from rag.experiment.spec import DATASET_KEYS, KEYS

    def kinds(expected: Any) -> str:
        return " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {kinds(expected)} | {meaning.replace('|', '&#124;')} |"
              for key, (expected, meaning) in KEYS.items()]
    loader = sorted(k for k in DATASET_KEYS if k not in LOADER_ONLY)
    lines += ["", f"`dataset:` keys: {', '.join(f'`{k}`' for k in LOADER_ONLY)} (see `rag.experiment.data`), and "
              f"the loaders' options {', '.join(f'`{k}`' for k in loader)}. `queries:` keys, applied in this order: "
              f"{', '.join(f'`{k}`' for k in QUERY_KEYS)}; `sample:` takes {', '.join(f'`{k}`' for k in SAMPLE_KEYS)} "
              f"(see `rag.experiment.queries`)."]
    return "\n".join(lines)


def document() -> str:
    """docs/components.md: the config's keys and every kind of component."""
    titles = {"stage": "Stages (pipelines: `{key: {params}}`)", "measure": "Measures (`measures: [...]`; also every "
              "ir-measures measure: nDCG@k, AP, R@k, RR@k, P@k, ...)", "dataset": "Datasets",
              "llm": "LLM backends (`llm: {backend: KEY, model: ..., ...}`)", "report": "Report writers",
              "encoder": "Encoders of the dense stage (`dense: {runtime: KEY}`)",
              "vector-index": "Vector indexes of the dense stage (`dense: {index: KEY, index_params: {...}}`)"}
    parts = ["# Component reference", "",
             "Generated by `ragif components --markdown` from the registry and the classes themselves (a test keeps "
             "this file in sync). Parameters not listed cannot be set from a config.", "",
             "## Vocabulary", "", vocabulary(), "",
             "## Experiment config keys", "", config_keys(), ""]
    for kind in KINDS:
        if not names(kind):
            continue
        parts += [f"## {titles[kind]}", "", reference(kind)]
    return "\n".join(parts).rstrip() + "\n"


def _cmd_components(args: argparse.Namespace) -> int:
    if args.plugin:
        from rag.experiment.plugins import load_plugins
        load_plugins(args.plugin)
    if args.markdown:
        print(document() if not args.key else reference(_kind_of(args.key), args.key), end="")
        return 0
    if args.key:
        print(plain_reference(_kind_of(args.key), args.key))
        return 0
    for kind in KINDS:
        for name in names(kind):
            obj = lookup(name, kind)
            params = ", ".join(p["name"] for p in parameters(obj, kind, name))
            print(f"{kind:8s} {name:22s} {_plain(summary(obj))[:70]}" + (f"\n{'':31s}({params})" if params else ""))
    return 0


def _kind_of(key: str) -> str:
    return next((k for k in KINDS if key in names(k)), None) or "stage"


def add_parser(sub: argparse._SubParsersAction) -> None:
    cp = sub.add_parser("components", help="every registry key with its parameters (the component reference)")
    cp.add_argument("key", nargs="?", help="one component (e.g. reader, cross-encoder, K-Precision)")
    cp.add_argument("--markdown", action="store_true", help="Markdown (without KEY: docs/components.md)")
    cp.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                    help="import MODULE first, so that the components it registers are listed; repeatable")
    cp.set_defaults(func=_cmd_components)
