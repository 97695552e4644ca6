"""Pipeline stages: objects that map one DataFrame to another, composed with ``>>`` and cut with ``%``.

A stage subclasses :class:`Stage`, is usually a dataclass (its fields are its configuration), says
which columns it ``needs`` and ``gives``, and implements ``transform``. Calling a stage checks its
input and, when a :class:`~rag.core.cache.Cache` is active, stores its output on disk under a key made
of the stage's fingerprint and the input table's content, so a re-run skips the work.

>>> from rag.core.stage import Stage
>>> pipeline = bm25 >> reranker % 10              # doctest: +SKIP
>>> results = pipeline(queries)                   # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
from typing import Any, Callable, ClassVar, Iterable, Iterator

import pandas as pd

from rag.core.version import __version__
from rag.core.cache import STAGE_OUTPUTS, Cache
from rag.core.errors import InputError, RagifError
from rag.core.hashing import canonical, hash_config, hash_frame
from rag.core.schema import DOCUMENT_COLUMNS, add_missing_questions, add_ranks, is_ranking, questions_of

log = logging.getLogger(__name__)
_TRACE: contextvars.ContextVar[list | None] = contextvars.ContextVar("ragif_trace", default=None)


@contextlib.contextmanager
def trace_rankings() -> Iterator[list[tuple[str, pd.DataFrame, pd.Series | None]]]:
    """Within this block every stage's output that is a ranking is recorded as ``(description, frame,
    asked)``, in the order the stages finish (so the last one is the ranking that fed what came after it);
    ``asked``: the query ids the stage was given when its input was not a ranking (a first-stage retriever:
    the questions the system retrieved for), else None."""
    seen: list[tuple[str, pd.DataFrame, pd.Series | None]] = []
    token = _TRACE.set(seen)
    try:
        yield seen
    finally:
        _TRACE.reset(token)


ANY_COLUMN = "*"   # in a dry run: the output of a stage that does not declare what it gives


class MissingColumns(InputError):
    """A stage's input lacks columns it needs (raised by the dry check and when the stage is called)."""

    def __init__(self, stage: "Stage", missing: list[str], columns: Iterable[str]):
        self.stage, self.missing, self.columns = stage, list(missing), sorted(columns)
        hint = stage.column_hint(self.missing[0])
        super().__init__(f"{stage.name} needs column(s) {self.missing} but its input has {self.columns}"
                         + (f": {hint}" if hint else ""), field=self.missing[0])


class Stage:
    """Base class of every pipeline stage.

    Class attributes a subclass sets:
      ``needs``     columns the input must have;
      ``gives``     columns the output adds or rewrites;
      ``cacheable`` whether its output is worth storing (expensive and deterministic);
      ``version``   bump it when a change of code changes the output (invalidates cached outputs);
      ``answers_questions`` the stage gives one row per question (a reader): in a pipeline it also
                    receives, as rows without a ``docno``, the questions earlier stages left no passage for.

    A stage whose parameters name further input columns (a popularity column, a signal) says so in
    :meth:`needed_columns`; :meth:`columns_after` is the dry run that checks a pipeline before it runs.
    """

    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ()
    cacheable: ClassVar[bool] = True
    version: ClassVar[str] = "1"
    answers_questions: ClassVar[bool] = False

    # ------------------------------------------------------------------ the one method
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ identity
    def config(self) -> dict[str, Any]:
        """The parameters that define this stage's output (dataclass fields unless marked otherwise)."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                    if f.metadata.get("config", True)}
        return {}

    @property
    def name(self) -> str:
        return type(self).__name__

    def fingerprint(self) -> str:
        """Hash of the class, its version and its configuration."""
        cls = type(self)
        return hash_config(f"{cls.__module__}.{cls.__qualname__}", self.version, self.config())

    def describe(self) -> str:
        """``Name(param=value, ...)`` with every parameter of the stage's identity (:meth:`config`), so what a
        board, a LaTeX table or provenance shows is what ran, e.g. ``LuceneBM25(k1=0.9, b=0.4, k=1000, ...)``.
        Nested stages are described in turn; the experiment's data (an injected corpus or dataset) and
        derived content hashes are left out."""
        config = self.config()
        own = {f.name for f in dataclasses.fields(self)} if dataclasses.is_dataclass(self) else set(config)
        items = []
        for key, value in config.items():
            raw = getattr(self, key, value)
            if key not in own or isinstance(getattr(type(raw), "injected_as", None), str):
                continue
            items.append(f"{key}={_shown(raw if _is_stages(raw) else value)}")
        return f"{self.name}({', '.join(items)})"

    def children(self) -> list["Stage"]:
        """The stages nested in this one's parameters (fused pipelines, a router's branches), in field order."""
        if not dataclasses.is_dataclass(self):
            return []
        out: list[Stage] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name, None)
            out.extend(v for v in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(v, Stage))
        return out

    def __repr__(self) -> str:
        return self.describe()

    # ------------------------------------------------------------------ running
    def needed_columns(self) -> tuple[str, ...]:
        """The columns this stage's input must have: ``needs``, plus any its parameters name."""
        return tuple(self.needs)

    def column_hint(self, column: str) -> str:
        """How to give this stage a ``column`` it needs (shown with the error), or ''."""
        return ""

    def columns_after(self, columns: Iterable[str], outputs: list[frozenset[str]] | None = None) -> frozenset[str]:
        """The columns of this stage's output for an input with ``columns``, computed without running anything
        (the dry check of an experiment, like PyTerrier's ``pt.inspect``). :class:`MissingColumns` when a
        needed column is absent; a stage class that does not declare ``gives`` adds :data:`ANY_COLUMN` (it may
        give anything, so nothing after it is refused). Nested stages (:meth:`children`) are checked against the same input and
        their columns join the output; each stage's output columns are appended to ``outputs``."""
        have = frozenset(columns)
        missing = [c for c in self.needed_columns() if c not in have and ANY_COLUMN not in have]
        if missing:
            raise MissingColumns(self, missing, have)
        out = set(have - set(DOCUMENT_COLUMNS)) if self.answers_questions else set(have)
        for inner in self.children():
            out |= inner.columns_after(have, outputs)
        if "gives" not in {k for klass in type(self).__mro__ if klass is not Stage for k in vars(klass)}:
            out.add(ANY_COLUMN)   # a stage that declares nothing may give anything: the check trusts it
        result = frozenset(out | set(self.gives))
        if outputs is not None:
            outputs.append(result)
        return result

    def check_input(self, frame: pd.DataFrame) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{self.name} expects a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in self.needed_columns() if c not in frame.columns]
        if missing:
            raise MissingColumns(self, missing, frame.columns)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.check_input(frame)
        out = self._run_cached(frame)
        trace = _TRACE.get()
        if trace is not None and is_ranking(out):
            asked = frame["qid"] if "qid" in frame.columns and not is_ranking(frame) else None
            trace.append((self.describe(), out, asked))
        return out

    def _run_cached(self, frame: pd.DataFrame) -> pd.DataFrame:
        cache = Cache.active()
        if cache is None or not self.cacheable:
            return self._check_output(self.transform(frame))
        key = hash_config("stage-output", __version__, self.fingerprint(), hash_frame(frame))
        cached = cache.get_frame(key, kind=STAGE_OUTPUTS)
        if cached is not None:
            return cached
        out = self._check_output(self.transform(frame))
        cache.put_frame(key, out, meta={"stage": self.describe()}, kind=STAGE_OUTPUTS)
        return out

    def _check_output(self, out: pd.DataFrame) -> pd.DataFrame:
        """A stage must give the columns it declares (a bug in the stage otherwise, not bad input)."""
        if not isinstance(out, pd.DataFrame):
            raise TypeError(f"{self.name}.transform returned {type(out).__name__}, not a DataFrame")
        missing = [c for c in self.gives if c not in out.columns]
        if missing:
            raise RagifError(f"{self.name} declares it gives {missing} but its output lacks them")
        return out

    def fuse_cutoff(self, k: int) -> "Stage | None":
        """A stage that gives what ``self >> RankCutoff(k)`` gives without making the rows the cut-off drops (a
        retriever asked for its top ``k`` only), or None (the default) when there is none. A pipeline runs it in
        place of this stage where a cut-off follows (its description and fingerprint stay those of the stages
        as written), as PyTerrier fuses ``bm25 % 10``; only where the result is exactly the same rows."""
        return None

    def search(self, query: str, qid: str = "1", **columns: Any) -> pd.DataFrame:
        """Run this stage on one query string (convenience for notebooks)."""
        return self(pd.DataFrame([{"qid": qid, "query": query, **columns}]))

    # ------------------------------------------------------------------ algebra
    def __rshift__(self, other: "Stage") -> "Pipeline":
        return Pipeline([self, _as_stage(other)])

    def __rrshift__(self, other: "Stage") -> "Pipeline":
        return Pipeline([_as_stage(other), self])

    def __mod__(self, k: int) -> "Pipeline":
        return Pipeline([self, RankCutoff(k)])


def _as_stage(obj: Any) -> Stage:
    if isinstance(obj, Stage):
        return obj
    if type(obj).__module__.split(".")[0] in ("pyterrier", "pyterrier_rag", "pyterrier_alpha", "pyterrier_dr"):
        raise TypeError(f"{type(obj).__name__} is a PyTerrier transformer: wrap it with "
                        f"rag.interop.pyterrier.from_pyterrier(...) (columns translated, cached when its identity "
                        f"is known)")
    if callable(obj):
        return FunctionStage(obj)
    raise TypeError(f"cannot compose {type(obj).__name__} into a pipeline")


class Pipeline(Stage):
    """Stages applied one after another; ``a >> b >> c`` flattens into one Pipeline."""

    cacheable = False  # its stages are cached one by one

    def __init__(self, stages: Iterable[Stage]):
        flat: list[Stage] = []
        for s in stages:
            flat.extend(s.stages if isinstance(s, Pipeline) else [_as_stage(s)])
        if not flat:
            raise ValueError("a Pipeline needs at least one stage")
        self.stages = flat

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.stages[0].needs

    @property
    def gives(self) -> tuple[str, ...]:  # type: ignore[override]
        out: list[str] = []
        for s in self.stages:
            out.extend(c for c in s.gives if c not in out)
        return tuple(out)

    def config(self) -> dict[str, Any]:
        return {"stages": [s.fingerprint() for s in self.stages]}

    def columns_after(self, columns: Iterable[str], outputs: list[frozenset[str]] | None = None) -> frozenset[str]:
        have = frozenset(columns)
        for stage in self.stages:
            have = stage.columns_after(have, outputs)
        return have

    def children(self) -> list[Stage]:
        return list(self.stages)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = None if "docno" in frame.columns else questions_of(frame)
        for stage in _fuse_cutoffs(self.stages):
            if stage.answers_questions and questions is not None and "docno" in frame.columns:
                frame = _with_every_question(frame, questions, stage)
            frame = stage(frame)
        return frame

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.check_input(frame)
        return self.transform(frame)

    def describe(self) -> str:
        return " >> ".join(s.describe() for s in self.stages)

    def __mod__(self, k: int) -> "Pipeline":
        return Pipeline([*self.stages, RankCutoff(k)])


@dataclasses.dataclass(repr=False)
class RankCutoff(Stage):
    """Keep the top ``k`` documents of each query (``stage % k``)."""

    k: int
    needs: ClassVar[tuple[str, ...]] = ("qid", "docno", "score")
    gives: ClassVar[tuple[str, ...]] = ("rank",)
    cacheable: ClassVar[bool] = False

    def __post_init__(self) -> None:
        from rag.core import params

        params.integer(self.k, "k")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        ranked = frame if "rank" in frame.columns else add_ranks(frame)
        return ranked[ranked["rank"] < self.k].reset_index(drop=True)


class FunctionStage(Stage):
    """Wrap a plain ``DataFrame -> DataFrame`` function as an (uncached) stage."""

    cacheable = False
    needs = ()

    def __init__(self, fn: Callable[[pd.DataFrame], pd.DataFrame], name: str | None = None):
        self.fn = fn
        self._name = name or getattr(fn, "__name__", "function")

    @property
    def name(self) -> str:
        return self._name

    def config(self) -> dict[str, Any]:
        return {"function": f"{getattr(self.fn, '__module__', '?')}.{self._name}"}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.fn(frame)


def _fuse_cutoffs(stages: list[Stage]) -> list[Stage]:
    """``stages`` with each stage that a :class:`RankCutoff` follows replaced by its :meth:`Stage.fuse_cutoff`
    where it has one (the cut-off stays: on the fused stage's output it keeps every row)."""
    out = list(stages)
    for i, (stage, after) in enumerate(zip(stages, stages[1:])):
        if isinstance(after, RankCutoff):
            fused = stage.fuse_cutoff(after.k)
            if fused is not None:
                out[i] = fused
    return out


def walk(stage: Any) -> Iterator[Stage]:
    """``stage`` and every stage nested in it (pipelines, fused retrievers, routers, wrappers), depth first."""
    if not isinstance(stage, Stage):
        return
    yield stage
    for inner in stage.children():
        yield from walk(inner)


def _is_stages(value: Any) -> bool:
    return isinstance(value, Stage) or (isinstance(value, (list, tuple)) and bool(value)
                                        and all(isinstance(v, Stage) for v in value))


def _shown(value: Any) -> str:
    """A parameter as :meth:`Stage.describe` shows it: nested stages by their description, the rest by repr."""
    if isinstance(value, Stage):
        return value.describe()
    if _is_stages(value):
        return "[" + " | ".join(v.describe() for v in value) + "]"
    return repr(value)


def _with_every_question(frame: pd.DataFrame, questions: pd.DataFrame, stage: Stage) -> pd.DataFrame:
    """``frame`` plus a row without ``docno`` for each question no earlier stage kept a passage for."""
    out = add_missing_questions(frame, questions)
    missing = len(out) - len(frame)
    if missing:
        log.warning("%d of %d questions reach %s with no passage (earlier stages kept none for them); it answers "
                    "them without passages", missing, len(questions), stage.name)
    return out


def stage_config_repr(stage: Stage) -> Any:
    """The canonical (JSON) form of a stage's configuration, for provenance records."""
    return canonical(stage.config())
