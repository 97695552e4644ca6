"""Measures as small objects with validated parameters, parsed from names such as ``nDCG@10``,
``AP(rel=2)``, ``F1``, ``K-Precision`` or ``BERTScore-F1(model=all-MiniLM-L6-v2)``.

Every measure has a ``name``, a ``kind``, a direction and ``per_query(results, qrels) -> Series`` (indexed
by ``qid``; NaN where the measure does not apply to a question). Kinds tell an experiment what a measure
reads: ``ranking`` and ``instruction`` measures read a ranking (and qrels), ``correctness`` and
``faithfulness`` measures an answers table, ``cost`` measures the cost columns of either. The direction
(``better``: ``"higher"`` or ``"lower"``) tells a leaderboard which value is best. Both are declared when a
measure is registered (:func:`register_measure`, or class attributes ``kind`` and ``better``), with
optionally ``digits`` (how many decimals a table prints: tokens 1, counts 0).
Ranking measures come from ir-measures (pytrec_eval); the others are registered in the one registry
(:mod:`rag.core.registry`, kind ``measure``). Names are matched case-insensitively; a parameter that is
unknown or out of range is an error when the measure is parsed, before any stage runs.

>>> parse_measure("ndcg@10").name
'nDCG@10'
>>> parse_measure("F1").kind, measure_direction("LLMTokens")
('correctness', 'lower')
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from rag.core.errors import InputError, did_you_mean
from rag.core.registry import canonical, lookup, names
from rag.evaluation.ranking import RankingMeasure, ir_measure_names

KINDS = ("ranking", "instruction", "correctness", "faithfulness", "cost")
RANKING_KINDS = ("ranking", "instruction")   # read a ranking (and qrels)
ANSWER_KINDS = ("correctness", "faithfulness")   # read an answers table
DIRECTIONS = ("higher", "lower")   # which values are better


@runtime_checkable
class Measure(Protocol):
    """A measure: a name, a kind (:data:`KINDS`) and per-query values from a results or answers table.

    ``per_query`` returns a float Series indexed by ``qid``; NaN marks a question the measure does not
    apply to (e.g. K-Precision of an answer given without passages). Declared attributes: ``better``
    (``"higher"`` or ``"lower"``; ``lower_is_better`` is read too), ``digits`` (decimals in tables),
    ``missing_reason`` (why a value can be NaN, for the board), ``suits_verbose_answers`` (answer measures:
    whether long answers are scored fairly), ``identity()`` (what besides its fields decides its values, e.g.
    the judge) and ``provenance()`` (the model a model-based measure used).
    """

    name: str
    kind: str

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series: ...


class DeclaredMeasure:
    """A measure object with the kind, direction and digits declared at its registration (the object itself
    may not carry them, e.g. one built by a factory function); everything else is the object's."""

    def __init__(self, measure: Any, declared: dict[str, Any]):
        self.measure = measure
        self.declared = declared
        self.kind = declared.get("kind") or getattr(measure, "kind", "custom")
        self.better = declared.get("better") or measure_direction(measure)
        if "digits" in declared:
            self.digits = declared["digits"]

    @property
    def name(self) -> str:
        return self.measure.name

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series:
        return self.measure.per_query(results, qrels)

    def __getattr__(self, attr: str) -> Any:
        if attr in ("measure", "declared"):    # not set yet (copy, pickle): no recursion
            raise AttributeError(attr)
        found = getattr(self.measure, attr)
        if attr == "bind_dataset":   # the bound measure keeps what was declared
            return lambda *args, **kwargs: DeclaredMeasure(found(*args, **kwargs), self.declared)
        return found

    def __repr__(self) -> str:
        return f"{self.measure!r} (kind {self.kind}, {self.better or 'undeclared'} is better)"


_DECLARED: dict[str, dict[str, Any]] = {}   # registry key -> what register_measure declared
_SPEC = re.compile(r"^\s*(?P<name>[^()@\s]+)\s*(?:\((?P<params>[^()]*)\))?\s*(?:@\s*(?P<cutoff>\S+))?\s*$")


def _value(text: str) -> Any:
    """A parameter value written in a measure name: bool, int, float or (quoted or bare) string."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _params(text: str | None, spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise InputError(f"measure {spec!r}: parameters are written name=value, got {part!r}", field="measures")
        out[key.strip()] = _value(value)
    return out


def _construct(factory: Any, key: str, params: dict[str, Any], spec: str) -> Any:
    accepted = None
    if dataclasses.is_dataclass(factory):
        accepted = [f.name for f in dataclasses.fields(factory) if f.init and f.name != "name"]
        for param in params:
            if param not in accepted:
                raise InputError(f"measure {spec!r}: {key} has no parameter {param!r}"
                                 f"{did_you_mean(param, accepted)}; it accepts {accepted or 'none'}",
                                 field="measures")
    try:
        measure = factory(name=key, **params)
    except (TypeError, ValueError) as exc:
        raise InputError(f"measure {spec!r}: {exc}", field="measures") from None
    declared = _DECLARED.get(key)
    if declared and any(getattr(measure, k, None) != v for k, v in declared.items()):
        return DeclaredMeasure(measure, declared)
    return measure


def parse_measure(spec: Any) -> Any:
    """A measure object from a name (or an object, passed through; ir-measures objects are wrapped)."""
    if isinstance(spec, RankingMeasure) or isinstance(spec, Measure) or (
            hasattr(spec, "per_query") and isinstance(getattr(spec, "name", None), str)):
        return spec
    if not isinstance(spec, str):
        if type(spec).__module__.startswith("ir_measures"):
            return RankingMeasure.wrap(spec)
        raise InputError(f"a measure is a name such as 'nDCG@10' or a measure object, got {spec!r}",
                         field="measures")
    whole = canonical(spec.strip(), "measure")   # a registered name may itself contain '@' (0.1 style)
    if whole is not None:
        return _construct(lookup(whole, "measure"), whole, {}, spec)
    match = _SPEC.match(spec)
    if not match:
        raise InputError(f"cannot read measure {spec!r}: write Name, Name@cutoff or Name(param=value)@cutoff",
                         field="measures")
    key = canonical(match["name"], "measure")
    if key is None:
        return RankingMeasure.parse(spec, match["name"], match["params"], match["cutoff"],
                                    known_elsewhere=names("measure"))
    params = _params(match["params"], spec)
    if match["cutoff"] is not None:
        params["cutoff"] = _value(match["cutoff"])
    return _construct(lookup(key, "measure"), key, params, spec)


def measure_name(measure: Any) -> str:
    """The name under which a measure's values are reported."""
    return parse_measure(measure).name


def measure_kind(measure: Any) -> str:
    """The measure's kind; ``custom`` for a measure that declares none (computed on a system's output)."""
    return getattr(parse_measure(measure), "kind", "custom")


def measure_direction(measure: Any) -> str | None:
    """``"higher"`` or ``"lower"`` (which values are better), or None when the measure declares neither."""
    measure = parse_measure(measure)
    better = getattr(measure, "better", None)
    if better in DIRECTIONS:
        return better
    lower = getattr(measure, "lower_is_better", None)
    if isinstance(lower, bool):
        return "lower" if lower else "higher"
    return None


def _identity_value(value: Any) -> Any:
    from rag.core.hashing import canonical as canonical_value, hash_frame

    if isinstance(value, pd.DataFrame):
        return {"__frame__": hash_frame(value)}
    if isinstance(value, pd.Series):
        return {"__frame__": hash_frame(value.to_frame())}
    if isinstance(value, dict):
        return {str(k): _identity_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_identity_value(v) for v in value]
    try:
        return canonical_value(value)
    except TypeError:
        return f"{type(value).__module__}.{type(value).__qualname__}:{value!r}"


def measure_identity(measure: Any) -> list[Any]:
    """What decides a measure's values, for every cache key they go into: its class, name, every parameter
    (tables such as p-MRR's changed qrels by content) and what it declares in ``identity()`` (e.g. the LLM
    judge that :func:`~rag.evaluation.answers.set_judge` chose, the embedding model, METEOR's stages)."""
    measure = parse_measure(measure)
    inner = getattr(measure, "measure", measure) if isinstance(measure, DeclaredMeasure) else measure
    if dataclasses.is_dataclass(inner):
        fields = {f.name: getattr(inner, f.name) for f in dataclasses.fields(inner)}
    else:
        fields = {k: v for k, v in getattr(inner, "__dict__", {}).items() if not k.startswith("_")}
    extra = measure.identity() if callable(getattr(measure, "identity", None)) else None
    return [type(inner).__module__ + "." + type(inner).__qualname__, measure.name, _identity_value(fields),
            _identity_value(extra), measure_kind(measure), measure_direction(measure)]


def measure_info(measure: Any) -> dict[str, Any]:
    """What a results folder records about a measure for its boards: kind, direction, digits, whether it
    suits verbose answers, and the models behind a model-based value."""
    measure = parse_measure(measure)
    better = measure_direction(measure)
    info: dict[str, Any] = {"kind": measure_kind(measure), "better": better,
                            "lower_is_better": better == "lower"}
    if isinstance(getattr(measure, "digits", None), int):
        info["digits"] = measure.digits
    verbose = getattr(measure, "suits_verbose_answers", None)
    if isinstance(verbose, bool):
        info["suits_verbose_answers"] = verbose
    details = getattr(measure, "provenance", None)
    if callable(details):
        info.update(details())
    return info


def known_measures() -> list[str]:
    """Registered ragif measures and the ir-measures families, for messages and the component reference."""
    return [*names("measure"), *ir_measure_names()]


def register_measure(name: str, factory: Any = None, *, kind: str | None = None, better: str | None = None,
                     digits: int | None = None) -> Any:
    """Make a measure available by name, declaring its ``kind`` (one of :data:`KINDS`) and which values are
    ``better`` (``"higher"`` or ``"lower"``); ``digits``: decimals in tables (default: the board's, 4).

    ``factory`` is a measure class (built as ``factory(name=name, **params)``; its class attributes ``kind``
    and ``better`` declare them too) or a function of the spec string. Without ``factory`` it is a class
    decorator. A measure whose kind or direction is declared nowhere is refused: a leaderboard must know
    which value is best.

    >>> @register_measure("AnswerWords", kind="correctness", better="lower", digits=1)   # doctest: +SKIP
    ... class AnswerWords: ...
    """
    if factory is None:
        def decorate(obj: Any) -> Any:
            register_measure(name, obj, kind=kind, better=better, digits=digits)
            return obj
        return decorate
    from rag.core.registry import register

    declared: dict[str, Any] = {}
    kind = kind or (getattr(factory, "kind", None) if isinstance(factory, type) else None)
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(f"measure {name!r}: declare its kind, one of {KINDS} (register_measure(..., kind=...)), "
                         f"got {kind!r}", field="kind")
    declared["kind"] = kind
    if better is None and isinstance(factory, type):
        better = getattr(factory, "better", None)
        if better is None and isinstance(getattr(factory, "lower_is_better", None), bool):
            better = "lower" if factory.lower_is_better else "higher"
    if better not in DIRECTIONS:
        raise InputError(f"measure {name!r}: declare which values are better, better='higher' or 'lower', "
                         f"got {better!r}", field="better")
    declared["better"] = better
    if digits is not None:
        if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
            raise InputError(f"measure {name!r}: digits must be an integer from 0 to 10, got {digits!r}",
                             field="digits")
        declared["digits"] = digits
    _DECLARED[name] = declared
    if isinstance(factory, type):
        register(name, "measure")(factory)
        return factory

    def build(name: str, **params: Any) -> Any:
        if params:
            raise TypeError(f"{name} takes no parameters")
        return factory(name)
    register(name, "measure")(build)
    return factory

