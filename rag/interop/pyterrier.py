"""PyTerrier both ways: a ragif stage as a ``pt.Transformer``, a ``pt.Transformer`` as a ragif stage.

>>> import pyterrier as pt                                                       # doctest: +SKIP
>>> from rag.interop.pyterrier import from_pyterrier, gold_answers_frame, to_pyterrier
>>> pt_pipe = to_pyterrier(bm25) % 10 >> pt.apply.doc_score(my_fn)              # doctest: +SKIP
>>> pt.Experiment([pt_pipe], topics, qrels, ["nDCG@10"])                        # doctest: +SKIP
>>> ragif_pipe = bm25 % 10 >> from_pyterrier(pt.apply.doc_score(my_fn), identity="my_fn v1")  # doctest: +SKIP

Both frameworks use ``qid, query, docno, score, rank`` (rank from 0) for rankings. Answer frames differ,
and the adapters translate them at the boundary (:func:`to_pyterrier_frame`, :func:`from_pyterrier_frame`):

==================  ==========================  ============================================
meaning             ragif                        PyTerrier-RAG (pyterrier-rag 0.3)
==================  ==========================  ============================================
generated answer    ``answer``                   ``qanswer``
prompt passages     ``contexts`` (list of str)   ``qcontext`` (one str, passages joined by
                                                 newlines, as its ``Concatenator`` writes)
gold answers        ``answers`` (list per qid)   ``gold_answer`` frame, one row per answer
==================  ==========================  ============================================

Caching: a wrapped PyTerrier transformer is cached by ragif only when its identity is known: given as
``identity=`` (any JSON-able value naming what it computes, e.g. a model name and version), or found
from its constructor attributes when every one is a plain value, a data frame, another such transformer,
or a function/class of an installed package (named with the package's version). A function from a script
or a test, a lambda, a loaded model object or a fitted estimator leaves it unknown, and the stage then
always runs (``describe()`` says so).
"""
from __future__ import annotations

import functools
import importlib.metadata
import inspect as pyinspect
import os
import sys
from typing import Any, Iterable, Sequence

import pandas as pd

from rag.core.errors import MissingDependencyError, RagifError
from rag.core.hashing import canonical, hash_config, hash_frame
from rag.core.stage import Stage

TO_PT = {"answer": "qanswer"}
FROM_PT = {v: k for k, v in TO_PT.items()}
PT_NAMES = {**TO_PT, "contexts": "qcontext"}           # column names across the boundary (declarations)
RAGIF_NAMES = {v: k for k, v in PT_NAMES.items()}
DOC_COLUMNS = ("docno", "docid", "score", "rank", "text", "title", "body")
UNKNOWN = "unknown"


def _pt():
    try:
        import pyterrier as pt  # type: ignore
    except ImportError:
        raise MissingDependencyError("pyterrier", extra="pyterrier", purpose="PyTerrier interoperation") from None
    return pt


# ------------------------------------------------------------------ frames
def join_contexts(contexts: Any) -> str:
    """pyterrier-rag's ``qcontext`` for a list of passage texts (its ``Concatenator`` joins with newlines)."""
    if contexts is None or (isinstance(contexts, float) and pd.isna(contexts)):
        return ""
    if isinstance(contexts, str):
        return contexts
    return "\n".join(str(c) for c in contexts)


def to_pyterrier_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A ragif frame in PyTerrier(-RAG) column names: ``answer`` becomes ``qanswer``; ``contexts`` stays and
    ``qcontext`` (joined) is added when absent."""
    out = frame.rename(columns={k: v for k, v in TO_PT.items() if k in frame.columns and v not in frame.columns})
    if "contexts" in out.columns and "qcontext" not in out.columns:
        out["qcontext"] = [join_contexts(c) for c in out["contexts"]]
    return out


def from_pyterrier_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A PyTerrier(-RAG) frame in ragif column names: ``qanswer`` becomes ``answer``; ``qcontext`` becomes
    ``contexts`` (a list) unless a ``contexts`` list that joins to the same text is already there."""
    out = frame.rename(columns={k: v for k, v in FROM_PT.items() if k in frame.columns and v not in frame.columns})
    if "qcontext" in out.columns:
        had = out["contexts"] if "contexts" in out.columns else [None] * len(out)
        out["contexts"] = [_contexts(q, c) for q, c in zip(out["qcontext"], had)]
        out = out.drop(columns=["qcontext"])
    return out


def _contexts(qcontext: Any, contexts: Any) -> list[str]:
    if isinstance(contexts, (list, tuple)) and join_contexts(contexts) == join_contexts(qcontext):
        return list(contexts)
    if isinstance(qcontext, (list, tuple)):
        return [str(c) for c in qcontext]
    text = join_contexts(qcontext)
    return [text] if text else []


def gold_answers_frame(queries: pd.DataFrame, column: str = "answers") -> pd.DataFrame:
    """pyterrier-rag's gold frame (``qid, gold_answer``, one row per gold answer) from ragif's ``answers`` lists."""
    rows = [(str(q), str(a)) for q, answers in zip(queries["qid"], queries[column]) for a in (answers or [])]
    return pd.DataFrame(rows, columns=["qid", "gold_answer"])


def answers_from_gold_frame(gold: pd.DataFrame) -> pd.DataFrame:
    """ragif's ``qid, answers`` (a list per question) from pyterrier-rag's ``qid, gold_answer`` rows."""
    grouped = gold.groupby("qid", sort=False)["gold_answer"].agg(lambda s: [str(a) for a in s if pd.notna(a)])
    return grouped.rename("answers").reset_index().astype({"qid": str})


# ------------------------------------------------------------------ identity of PyTerrier objects
class UnknownIdentity(RagifError):
    """A PyTerrier transformer whose output cannot be identified from its attributes (so it is not cached)."""


def _code_identity(obj: Any) -> dict[str, str]:
    """A function or class by module, name and the version of the installed package it comes from."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:  # scripts, lambdas, closures
        raise UnknownIdentity(f"{qualname or repr(obj)} is defined in a script, a test, a lambda or a closure")
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return {"code": f"{module}.{qualname}", "package": f"python=={sys.version.split()[0]}"}
    dists = _distributions().get(top)
    if not dists or not _installed(getattr(sys.modules.get(module), "__file__", None)):
        raise UnknownIdentity(f"{module}.{qualname} is not from an installed package")
    return {"code": f"{module}.{qualname}", "package": f"{dists[0]}=={importlib.metadata.version(dists[0])}"}


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _installed(file: str | None) -> bool:
    """Whether a module file lies in an installed-packages folder (not a script or a working checkout)."""
    if not file:
        return False
    roots = [p for p in sys.path if p.rstrip("/\\").endswith(("site-packages", "dist-packages"))]
    return any(os.path.abspath(file).startswith(os.path.abspath(r) + os.sep) for r in roots)


def _value_identity(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise UnknownIdentity("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_value_identity(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _value_identity(v, depth + 1) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {"frame": hash_frame(value)}
    pt = sys.modules.get("pyterrier")
    if pt is not None and isinstance(value, pt.Transformer):
        return transformer_identity(value, depth + 1)
    if pyinspect.isfunction(value) or pyinspect.isclass(value) or pyinspect.isbuiltin(value):
        return _code_identity(value)
    raise UnknownIdentity(f"a {type(value).__name__} attribute")


def transformer_identity(transformer: Any, depth: int = 0) -> dict[str, Any]:
    """What a PyTerrier transformer computes, from its class and constructor attributes; raises when unknown."""
    pt = _pt()
    if _TRANSFORMER_CLASS is not None and isinstance(transformer, _TRANSFORMER_CLASS):
        if not transformer.stage.cacheable:
            raise UnknownIdentity(f"ragif stage {transformer.stage.name} is not cacheable")
        return {"ragif": transformer.stage.fingerprint(), "pyterrier_columns": transformer.pyterrier_columns}
    if isinstance(transformer, pt.Estimator):
        raise UnknownIdentity("an estimator (its fitted state is not in its attributes)")
    try:
        attributes = pt.inspect.transformer_attributes(transformer)
    except Exception as exc:  # pt.inspect.InspectError and whatever a transformer's own attributes() raises
        raise UnknownIdentity(f"attributes not inspectable ({exc})") from None
    names = {a.name for a in attributes}
    state = set(vars(transformer)) if hasattr(transformer, "__dict__") else set()
    hidden = sorted(k for k in state if k not in names and k.lstrip("_") not in names)
    if hidden:
        raise UnknownIdentity(f"state outside its constructor attributes: {hidden}")
    return {**_code_identity(type(transformer)),
            "attributes": {a.name: _value_identity(a.value, depth + 1) for a in attributes}}


def _identity_or_reason(transformer: Any) -> tuple[Any, str | None]:
    try:
        return transformer_identity(transformer), None
    except UnknownIdentity as why:
        return None, str(why)


# ------------------------------------------------------------------ PyTerrier -> ragif
class PyTerrierStage(Stage):
    """A ``pt.Transformer`` as a ragif stage (see the module docstring).

    ``needs``/``gives`` in ragif names (``answer``, ``contexts``); when omitted they are inferred with
    ``pt.inspect`` on empty frames. ``identity``: any JSON-able value naming what the transformer computes
    (None: found from its attributes when possible, else the stage is not cached; False: never cached).
    ``keep_query_columns``: put back query columns (``answers``, ``instruction``, ...) that the transformer
    dropped (pyterrier-rag's ``Concatenator`` keeps only ``qid, query, qcontext``).
    """

    version = "1"

    def __init__(self, transformer: Any, needs: Sequence[str] | None = None, gives: Sequence[str] | None = None,
                 identity: Any = None, name: str | None = None, keep_query_columns: bool = True):
        pt = _pt()
        if not isinstance(transformer, pt.Transformer):
            raise TypeError(f"from_pyterrier needs a pt.Transformer, got {type(transformer).__name__}")
        self.transformer = transformer
        self._needs = tuple(needs) if needs is not None else None
        self._gives = tuple(gives) if gives is not None else None
        self.keep_query_columns = keep_query_columns
        self._name = name or f"pt:{type(transformer).__name__}"
        if identity is False:
            self.identity, self.unknown_reason = None, "switched off (identity=False)"
        elif identity is not None:
            self.identity, self.unknown_reason = {"given": canonical(identity),
                                                  **_code_identity_or_name(type(transformer))}, None
        else:
            self.identity, self.unknown_reason = _identity_or_reason(transformer)

    @property
    def name(self) -> str:
        return self._name

    @property
    def cacheable(self) -> bool:  # type: ignore[override]
        return self.identity is not None

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._needs is None:
            found = _pt().inspect.transformer_inputs(self.transformer, strict=False)
            self._needs = tuple(RAGIF_NAMES.get(c, c) for c in (found or [[]])[0])
        return self._needs

    @property
    def gives(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._gives is None:
            inputs = [PT_NAMES.get(c, c) for c in self.needs]
            found = _pt().inspect.transformer_outputs(self.transformer, inputs, strict=False) or []
            self._gives = tuple(dict.fromkeys(RAGIF_NAMES.get(c, c) for c in found if c not in inputs))
        return self._gives

    def config(self) -> dict[str, Any]:
        if self.identity is None:
            return {"transformer": repr(self.transformer), "identity": UNKNOWN}
        return {"transformer": self.identity}

    def fingerprint(self) -> str:
        return hash_config("pyterrier-stage", self.version, self.config())

    def describe(self) -> str:
        suffix = "" if self.identity is not None else f" [not cached: identity unknown, {self.unknown_reason}]"
        return f"{self._name}({self.transformer!r}){suffix}"

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = self.transformer.transform(to_pyterrier_frame(frame))
        if not isinstance(out, pd.DataFrame):
            raise TypeError(f"{self.describe()} returned {type(out).__name__}, not a DataFrame")
        out = from_pyterrier_frame(out)
        if self.keep_query_columns and "qid" in out.columns and "qid" in frame.columns:
            out = _restore_query_columns(frame, out)
        return out


def _code_identity_or_name(cls: type) -> dict[str, str]:
    try:
        return _code_identity(cls)
    except UnknownIdentity:
        return {"code": f"{cls.__module__}.{cls.__qualname__}"}


def _restore_query_columns(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    lost = [c for c in before.columns if c not in after.columns and c not in DOC_COLUMNS]
    if not lost:
        return after
    per_query = before.drop_duplicates("qid")[["qid", *lost]]
    return after.merge(per_query, on="qid", how="left", sort=False)


def from_pyterrier(transformer: Any, needs: Sequence[str] | None = None, gives: Sequence[str] | None = None,
                   identity: Any = None, name: str | None = None, keep_query_columns: bool = True) -> PyTerrierStage:
    """A ``pt.Transformer`` as a ragif :class:`~rag.core.stage.Stage` (see :class:`PyTerrierStage`)."""
    return PyTerrierStage(transformer, needs, gives, identity, name, keep_query_columns)


# ------------------------------------------------------------------ ragif -> PyTerrier
_TRANSFORMER_CLASS: type | None = None


def _transformer_class() -> type:
    """The ``pt.Transformer`` subclass, built on first use so that importing this module needs no pyterrier."""
    global _TRANSFORMER_CLASS
    if _TRANSFORMER_CLASS is not None:
        return _TRANSFORMER_CLASS
    pt = _pt()

    class RagifTransformer(pt.Transformer):
        """A ragif stage as a PyTerrier transformer: frames are translated at the boundary (``answer`` <->
        ``qanswer``, ``contexts`` <-> ``qcontext``); the stage checks its input and uses ragif's cache."""

        def __init__(self, stage: Stage, pyterrier_columns: bool = True):
            self.stage = stage
            self.pyterrier_columns = pyterrier_columns

        def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
            out = self.stage(from_pyterrier_frame(inp))
            return to_pyterrier_frame(out) if self.pyterrier_columns else out

        def transform_inputs(self) -> list[list[str]]:
            return [[PT_NAMES.get(c, c) for c in self.stage.needs]]

        def transform_outputs(self, input_columns: list[str]) -> list[str]:
            gives = [TO_PT.get(c, c) if self.pyterrier_columns else c for c in self.stage.gives]
            if self.pyterrier_columns and "contexts" in self.stage.gives:
                gives.append("qcontext")
            return list(dict.fromkeys([*input_columns, *gives]))

        def fingerprint(self) -> str:
            return self.stage.fingerprint()

        def __repr__(self) -> str:
            return f"ragif({self.stage.describe()})"

    _TRANSFORMER_CLASS = RagifTransformer
    return RagifTransformer


def to_pyterrier(stage: Stage, pyterrier_columns: bool = True) -> Any:
    """A ragif stage (or pipeline) as a ``pt.Transformer`` usable in PyTerrier pipelines and ``pt.Experiment``.

    ``pyterrier_columns``: give answer frames PyTerrier-RAG's names (``qanswer``, ``qcontext``) so its
    measures (``pyterrier_rag.measures.EM``, ``F1``...) read them."""
    if not isinstance(stage, Stage):
        raise TypeError(f"to_pyterrier needs a ragif Stage, got {type(stage).__name__}")
    return _transformer_class()(stage, pyterrier_columns)


def pyterrier_topics(queries: pd.DataFrame, columns: Iterable[str] = ("qid", "query")) -> pd.DataFrame:
    """A ragif queries table as PyTerrier topics (``qid, query`` as strings, plus any ``columns`` asked for)."""
    return queries[list(dict.fromkeys(columns))].astype({"qid": str, "query": str}).reset_index(drop=True)
