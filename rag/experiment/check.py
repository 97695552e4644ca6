"""The dry check of an experiment, before any stage runs (like PyTerrier's ``pt.inspect``).

Each pipeline's columns are followed from the selected questions' columns through its stages
(:meth:`rag.core.stage.Stage.columns_after`, from what each stage ``needs`` and ``gives``): a stage whose
input would lack a column it needs (``docno`` for a reranker after a reader, ``relation`` for a
popularity policy on a data set without it) is an error naming the config line of that stage. Then every
measure is matched against the pipelines and the data set:

=====================  ====================================================================================
measure kind           needs
=====================  ====================================================================================
ranking, instruction   a ranking somewhere in the pipeline (``docno`` and ``score``) and relevance
                       judgements for the split
correctness            an ``answer`` column and the data set's gold ``answers``
faithfulness           an ``answer`` and the ``contexts`` that were in the prompt
cost                   ``retrieved`` for RetrievalRate; nothing for token and time counts
any                    the columns in the measure's optional ``needs`` attribute (plugins may declare it)
=====================  ====================================================================================

A stage class that declares no ``gives`` may give anything (:data:`rag.core.stage.ANY_COLUMN`): what follows
it is trusted, not refused.

A measure that a system cannot give is empty for that system (the board says why), as intended for a
closed-book system next to retrieving ones; a measure that *no* system can give, or whose data the data
set lacks, is an error naming the measure's line.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rag.core.errors import ConfigError
from rag.core.stage import ANY_COLUMN, MissingColumns, Stage
from rag.evaluation.measures import RANKING_KINDS
from rag.evaluation.ranking import RankingMeasure

RANKING = frozenset({"docno", "score"})


@dataclass(frozen=True)
class Flow:
    """What a pipeline gives, without running it: its output columns and whether a ranking arises in it."""

    columns: frozenset[str]
    ranked: bool


def flow(pipeline: Stage, columns: Sequence[str]) -> Flow:
    """The columns ``pipeline`` gives for input ``columns`` (:class:`MissingColumns` when a stage lacks one)."""
    outputs: list[frozenset[str]] = []
    final = pipeline.columns_after(columns, outputs)
    return Flow(final, any(RANKING <= out or ANY_COLUMN in out for out in outputs))


def check_pipelines(pipelines: Mapping[str, Stage], columns: Sequence[str], what: str, source: str | None = None,
                    pipeline_lines: Mapping[str, int | None] | None = None,
                    stage_lines: Mapping[int, int | None] | None = None) -> dict[str, Flow]:
    """Every pipeline's :class:`Flow` from the questions' ``columns`` (``what`` names the data set and split);
    a missing column is a :class:`ConfigError` at the line of the stage that needs it."""
    out = {}
    for name, pipeline in pipelines.items():
        try:
            out[name] = flow(pipeline, columns)
        except MissingColumns as exc:
            line = (stage_lines or {}).get(id(exc.stage)) or (pipeline_lines or {}).get(name)
            origin = (f"; the questions of {what} have {sorted(columns)}, and no stage before it gives "
                      f"{'it' if len(exc.missing) == 1 else 'them'}")
            raise ConfigError(f"pipeline {name!r}: {exc.reason}{origin}", path=source, line=line,
                              field=f"pipelines.{name}") from None
    return out


def measure_needs(measure: Any) -> tuple[frozenset[str], bool]:
    """The output columns a measure reads, and whether it reads a ranking (see the module's table)."""
    kind = getattr(measure, "kind", "custom")
    declared = frozenset(getattr(measure, "needs", ()) or ())
    if isinstance(measure, RankingMeasure) or kind in RANKING_KINDS:
        return declared, True
    if kind == "correctness":
        return declared | {"answer", "answers"}, False
    if kind == "faithfulness":
        return declared | {"answer", "contexts"}, False
    if kind == "cost" and getattr(measure, "name", "") == "RetrievalRate":
        return declared | {"retrieved"}, False
    return declared, False


def check_measures(measures: Sequence[Any], flows: Mapping[str, Flow], dataset: Any, split: str | None,
                   question_columns: Sequence[str], source: str | None = None,
                   measure_lines: Sequence[int | None] = ()) -> dict[str, list[str]]:
    """Each measure's systems (those it applies to); a :class:`ConfigError` at the measure's line when the
    data set lacks what it needs or no pipeline gives it."""
    split_name = split or getattr(dataset, "default_split", None)
    applies: dict[str, list[str]] = {}
    for index, measure in enumerate(measures):
        line = measure_lines[index] if index < len(measure_lines) else None
        name = measure.name
        columns, ranking = measure_needs(measure)

        def fail(reason: str) -> ConfigError:
            return ConfigError(f"measure {name!r} {reason}", path=source, line=line, field="measures")
        if ranking and getattr(measure, "needs_qrels", True) and not dataset.has_qrels(split_name):
            raise fail(f"needs relevance judgements, and data set {dataset.name!r} has none for split "
                       f"{split_name!r} (give them with dataset: {{qrels: FILE}}, or drop the measure)")
        if "answers" in columns and "answers" not in question_columns:
            raise fail(f"compares answers with gold answers, and the questions of data set {dataset.name!r} have "
                       f"no 'answers' column (they have {sorted(question_columns)})")
        ok = [system for system, f in flows.items()
              if (columns <= f.columns or ANY_COLUMN in f.columns) and (f.ranked or not ranking)]
        if not ok:
            needs = " and ".join(filter(None, ["a ranking" if ranking else "",
                                                f"column(s) {sorted(columns)}" if columns else ""]))
            shown = "; ".join(f"{system!r} gives {_gives(f)}" for system, f in list(flows.items())[:3])
            raise fail(f"needs {needs}, and no pipeline gives that: {shown}"
                       + (" (a measure of answers needs a reader at the end of a pipeline)"
                          if "answer" in columns else ""))
        applies[name] = ok
    return applies


def _gives(f: Flow) -> str:
    kind = "answers" if "answer" in f.columns else "a ranking" if RANKING <= f.columns else "a table"
    return f"{kind} {sorted(f.columns)}" if len(f.columns) <= 12 else f"{kind} ({len(f.columns)} columns)"
