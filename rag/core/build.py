"""Building components from config values: parameters validated against the stage's dataclass fields.

Unknown names get a did-you-mean, wrong types a clear message naming file, line and key; fields whose
type says ``injected_as = "corpus"`` or ``"dataset"`` (:class:`~rag.datasets.Corpus`, ``Dataset``) are
filled from the experiment's dataset; fields typed ``Stage`` / ``list[Stage]`` take nested component
specs; an ``llm`` field left out takes the config's top-level ``llm`` when it has one. Nothing is imported
from a config except through the registry (:mod:`rag.core.registry`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, get_args, get_origin

from rag.core.config import item_line
from rag.core.errors import ConfigError, InputError, did_you_mean
from rag.core.registry import lookup


@dataclass
class BuildContext:
    """What a config cannot say but a component may need: the dataset and split of the experiment, the
    config's default LLM; and where each built stage was written (``stage_lines``: ``id(stage)`` -> line)."""

    dataset: Any = None
    split: str | None = None
    source: str | None = None  # config file, for error messages
    lines: Mapping[str, int] | None = None
    llm: Any = None            # the config's top-level llm: the default of every stage with an llm field
    stage_lines: dict[int, int | None] | None = None


def component(name: str, context: BuildContext | None = None, **params: Any) -> Any:
    """Build the component ``name`` with validated ``params``.

    >>> from rag.core.build import component
    >>> component("rank-cutoff", k=10)
    RankCutoff(k=10)
    """
    cls = lookup(name, "stage", context.source if context else None)
    return build(cls, dict(params), context or BuildContext(), label=name)


def build(cls: type, params: dict[str, Any], context: BuildContext, label: str | None = None) -> Any:
    """``cls`` built from config ``params``: names checked against its dataclass fields, values against their
    types, the dataset's parts injected, the config's ``llm`` given to an ``llm`` field left out; a class
    that is not a dataclass builds itself (``from_config(params, context)``)."""
    label = label or cls.__name__
    if not dataclasses.is_dataclass(cls):
        hook = getattr(cls, "from_config", None)
        if hook is None:
            raise ConfigError(f"component {label!r} cannot be built from a config", path=context.source)
        return hook(params, context)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    if context.llm is not None and "llm" in fields and "llm" not in params:
        params["llm"] = context.llm
    _refuse_unknown(params, fields, hints, context, label)
    values = {name: value for name, f in fields.items()
              if (value := _field_value(f, hints.get(name), params, context, label)) is not _LEFT_OUT}
    hook = getattr(cls, "from_config", None)
    return hook(values, context) if hook is not None else _construct(cls, values, fields, context, label)


_LEFT_OUT = object()   # a field the config does not set: the class's default applies


def _refuse_unknown(params: dict[str, Any], fields: dict[str, dataclasses.Field], hints: dict[str, Any],
                    context: BuildContext, label: str) -> None:
    """A ConfigError with a did-you-mean for a parameter the component does not take (or that the dataset fills)."""
    for key in params:
        if key not in fields or _is_injected(hints.get(key)):
            accepted = [f for f in fields if not _is_injected(hints.get(f))]
            raise ConfigError(f"{label} has no parameter {key!r}{did_you_mean(key, accepted)}; "
                              f"it accepts {accepted}", path=context.source, line=_line(context, key), field=key)


def _field_value(f: dataclasses.Field, hint: Any, params: dict[str, Any], context: BuildContext, label: str) -> Any:
    """The value a field gets: injected from the dataset, the config's (type-checked), or :data:`_LEFT_OUT`."""
    required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    if _is_injected(hint):
        injected = _inject(hint, context)
        if injected is None and required:
            raise ConfigError(f"{label} needs a dataset with a {getattr(hint, '__name__', hint)} "
                              f"(the experiment's dataset has none)", path=context.source, field=f.name)
        return _LEFT_OUT if injected is None else injected
    if f.name not in params:
        if required:
            raise ConfigError(f"{label} needs parameter {f.name!r}", path=context.source, field=f.name)
        return _LEFT_OUT
    try:
        return _coerce(params[f.name], hint, f"{label}.{f.name}", context)
    except ConfigError as exc:   # a wrong type: name the parameter's line when the message has none
        if exc.line is not None or _line(context, f.name) is None:
            raise
        raise ConfigError(exc.reason, path=exc.path or context.source, line=_line(context, f.name),
                          field=exc.field) from None


def _construct(cls: type, values: dict[str, Any], fields: dict[str, dataclasses.Field], context: BuildContext,
               label: str) -> Any:
    """``cls(**values)``; a value the component refuses becomes a ConfigError at the parameter's line."""
    try:
        return cls(**values)
    except InputError as exc:
        if isinstance(exc, ConfigError) and exc.path:
            raise
        field = exc.field if exc.field in fields else None
        raise ConfigError(exc.reason if field else f"{label}: {exc.reason}", path=context.source,
                          line=_line(context, field) if field else None,
                          field=f"{label}.{field}" if field else None) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{label}: {exc}", path=context.source) from None


def _line(context: BuildContext, key: str) -> int | None:
    return context.lines.get(key) if context.lines else None


def _injected_as(hint: Any) -> str | None:
    """``"corpus"`` / ``"dataset"`` when a field's type says it is filled from the experiment's dataset."""
    if hint is None:
        return None
    for candidate in (get_args(hint) if _is_union(hint) else (hint,)):
        role = getattr(candidate, "injected_as", None)
        if isinstance(role, str):
            return role
    return None


def _is_injected(hint: Any) -> bool:
    return _injected_as(hint) is not None


def _inject(hint: Any, context: BuildContext) -> Any:
    role = _injected_as(hint)
    if role == "dataset":
        return context.dataset
    if role == "corpus":
        return getattr(context.dataset, "corpus", None)
    return None


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (typing.Union, types.UnionType)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


# a scalar type -> (whether a config value fits it, what the value must be): no implicit string parsing
_SCALARS: dict[type, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _coerce(value: Any, hint: Any, label: str, context: BuildContext) -> Any:
    """Check ``value`` against the type hint; build nested stages; no implicit string parsing."""
    from rag.core.stage import Stage

    origin = get_origin(hint)
    if hint is None or hint is Any:
        return value
    if _is_union(hint):
        return _coerce_union(value, hint, label, context)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{label} must be one of {list(choices)}, got {value!r}"
                              f"{did_you_mean(str(value), [str(c) for c in choices])}", path=context.source,
                              field=label)
        return value
    if isinstance(hint, type) and issubclass(hint, Stage):
        return build_stage(value, context)
    if origin in (list, tuple, dict):
        return _coerce_container(value, hint, label, context)
    if hint in _SCALARS:
        fits, what = _SCALARS[hint]
        if not fits(value):
            raise ConfigError(f"{label} must be {what}, got {value!r}", path=context.source, field=label)
        return float(value) if hint is float else value
    return value


def _coerce_union(value: Any, hint: Any, label: str, context: BuildContext) -> Any:
    """``value`` as the first member of the union it fits (None only for an optional one)."""
    for option in get_args(hint):
        if option is type(None):
            if value is None:
                return None
            continue
        try:
            return _coerce(value, option, label, context)
        except ConfigError:
            continue
    raise ConfigError(f"{label}: {value!r} does not fit {_type_name(hint)}", path=context.source, field=label)


def _coerce_container(value: Any, hint: Any, label: str, context: BuildContext) -> Any:
    """A list (each item checked against the item type) or a mapping, as the hint says."""
    if get_origin(hint) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{label} must be a mapping, got {type(value).__name__}", path=context.source,
                              field=label)
        return dict(value)
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{label} must be a list, got {type(value).__name__}", path=context.source, field=label)
    args = get_args(hint)
    inner = args[0] if args else Any
    return [_coerce(v, inner, f"{label}[{i}]", context) for i, v in enumerate(value)]


def build_stage(spec: Any, context: BuildContext, line: int | None = None) -> Any:
    """A stage from a config spec (``line``: where the spec starts, when the context does not say).

    Forms: ``"bm25"`` (defaults), ``{"bm25": {"k1": 0.9}}``, or a list of such (a pipeline, stage by
    stage). Each stage built is recorded in ``context.stage_lines`` with the line of its key.
    """
    from rag.core.stage import Pipeline

    if isinstance(spec, list):
        if not spec:
            raise ConfigError("a pipeline needs at least one stage", path=context.source, line=line)
        stages = [build_stage(s, context, item_line(spec, i, line)) for i, s in enumerate(spec)]
        return stages[0] if len(stages) == 1 else Pipeline(stages)
    if isinstance(spec, str):
        at = _line(context, spec) or line
        return _remember(lambda: build(lookup(spec, "stage", context.source, at), {}, context, label=spec), context, at)
    if isinstance(spec, dict) and len(spec) == 1:
        (name, params), = spec.items()
        at = getattr(spec, "lines", {}).get(str(name)) or _line(context, name) or line
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ConfigError(f"parameters of {name!r} must be a mapping, got {type(params).__name__}",
                              path=context.source, line=at, field=name)
        sub = dataclasses.replace(context, lines=getattr(params, "lines", None) or context.lines)
        cls = lookup(name, "stage", context.source, at)
        return _remember(lambda: build(cls, dict(params), sub, label=name), context, at)
    raise ConfigError(f"a stage is written as a name or a one-key mapping {{name: {{params}}}}, got {spec!r:.80}",
                      path=context.source, line=line)


def _remember(make: Any, context: BuildContext, line: int | None) -> Any:
    """``make()``, with its line recorded in ``context.stage_lines``; a config error without a line gets this
    stage's line."""
    try:
        stage = make()
    except ConfigError as exc:
        if exc.line is not None or line is None or (exc.path and exc.path != context.source):
            raise
        raise ConfigError(exc.reason, path=context.source, line=line, field=exc.field) from None
    if context.stage_lines is not None:
        context.stage_lines.setdefault(id(stage), line)
    return stage
