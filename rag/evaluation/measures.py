"""Measures as small objects with validated parameters, parsed from names such as ``nDCG@10``,
``AP(rel=2)``, ``F1``, ``K-Precision`` or ``BERTScore-F1(model=all-MiniLM-L6-v2)``.

Every measure has a ``name``, a ``kind`` and ``per_query(results, qrels) -> Series`` (indexed by
``qid``; NaN where the measure does not apply to a question). Kinds tell an experiment what a measure
reads: ``ranking`` and ``instruction`` measures read a ranking (and qrels), ``correctness`` and
``faithfulness`` measures an answers table, ``cost`` measures the cost columns of either.
Ranking measures come from ir-measures (pytrec_eval); the others are registered in the one registry
(:mod:`rag.core.registry`, kind ``measure``). Names are matched case-insensitively; a parameter that is
unknown or out of range is an error when the measure is parsed, before any stage runs.

>>> parse_measure("ndcg@10").name
'nDCG@10'
>>> parse_measure("F1").kind
'correctness'
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


@runtime_checkable
class Measure(Protocol):
    """A measure: a name, a kind (:data:`KINDS`) and per-query values from a results or answers table.

    ``per_query`` returns a float Series indexed by ``qid``; NaN marks a question the measure does not
    apply to (e.g. K-Precision of an answer given without passages). Optional attributes:
    ``lower_is_better`` (bool), ``missing_reason`` (why a value can be NaN, for the board) and
    ``describe_model()`` (the model a model-based measure used, for provenance).
    """

    name: str
    kind: str

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None) -> pd.Series: ...


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
        return factory(name=key, **params)
    except (TypeError, ValueError) as exc:
        raise InputError(f"measure {spec!r}: {exc}", field="measures") from None


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
    """The measure's kind; ``custom`` for a 0.1-style measure without one (computed on a system's output)."""
    return getattr(parse_measure(measure), "kind", "custom")


def known_measures() -> list[str]:
    """Registered ragif measures and the ir-measures families, for messages and the component reference."""
    return [*names("measure"), *ir_measure_names()]


def register_measure(name: str, factory: Any) -> None:
    """Make a measure available by name (kept from 0.1; prefer ``@register(name, kind="measure")``).

    ``factory`` is a measure class (built as ``factory(name=name, **params)``) or, as in 0.1, a function
    of the spec string."""
    from rag.core.registry import register

    if isinstance(factory, type):
        register(name, "measure")(factory)
        return

    def build(name: str, **params: Any) -> Any:
        if params:
            raise TypeError(f"{name} takes no parameters")
        return factory(name)
    register(name, "measure")(build)
