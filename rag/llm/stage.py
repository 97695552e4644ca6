"""The one way a stage holds an LLM: :class:`LLMStage`.

``llm`` is a spec for :func:`rag.llm.load_llm` (a name such as ``"qwen-0.5b"``, a ``.gguf`` path or a
mapping such as ``{backend: openai, model: ..., base_url: ...}``) or an LLM object (the
:class:`~rag.llm.base.LLM` Protocol). The model is loaded once, on first use; only its identity enters the
stage's cache key (:func:`rag.llm.identity.llm_fingerprint`: the spec or the object's ``name``, with a GGUF's
checksum or what a server reports serving). Every LLM stage adds what its calls cost to the per-question cost
columns (:data:`rag.core.schema.COST_COLUMNS`), summed over the pipeline.

A stage sends all its prompts in one call (:meth:`LLMStage.generate`, :meth:`LLMStage.option_probs`): the
backend gets them as one stream (``concurrency`` requests in flight for an HTTP server, its own batches for
the Hugging Face backend), and the progress names the running system and the stage.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from rag.core.errors import MissingDependencyError
from rag.core.schema import COST_COLUMNS
from rag.core.stage import Stage
from rag.llm import LLM, CachedLLM, Generation

DEFAULT_LLM = "qwen-0.5b"
LLMSpec = Union[str, dict, LLM]


def resolve_llm(spec: LLMSpec) -> LLM:
    """An LLM object from a spec (objects with ``generate`` pass through)."""
    if hasattr(spec, "generate"):
        return spec  # type: ignore[return-value]
    try:
        from rag.llm import load_llm
    except ImportError as exc:  # pragma: no cover - the LLM layer is part of ragif
        raise MissingDependencyError(f"rag.llm is not available ({exc}); pass an LLM object instead") from None
    return load_llm(spec)


def llm_identity(spec: Any) -> Any:
    """What an LLM is shown as (descriptions, records): the spec without credentials in its ``base_url``, or a
    loaded object's ``name``."""
    from rag.llm import spec_identity

    return spec_identity(spec)


@dataclasses.dataclass(repr=False)
class LLMStage(Stage):
    """Base of every stage that calls an LLM (readers, LLM rerankers, utility judges, adaptive signals).

    ``llm`` is the one parameter naming the LLM (a spec or an LLM object). :attr:`client` is not a parameter:
    it is the loaded LLM object that ``llm`` names (built on first use; assigning a new ``llm`` replaces it).
    Subclasses call it through :meth:`generate` / :meth:`option_probs` (one stream, with progress) and record
    cost with :func:`add_cost`.
    """

    llm: LLMSpec = DEFAULT_LLM

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if "llm" in cfg:
            from rag.llm.identity import llm_fingerprint

            cfg["llm"] = llm_fingerprint(cfg["llm"])
        return cfg

    def llm_provenance(self) -> Any:
        """What the stage's LLM records about itself (identity, settings) once loaded; else its spec."""
        loaded = self._loaded()
        describe = getattr(loaded, "provenance", None)
        return describe() if callable(describe) else llm_identity(self.llm)

    def _loaded(self) -> LLM | None:
        """The LLM loaded for the current ``llm`` (None before first use or after ``llm`` was replaced)."""
        loaded = self.__dict__.get("_client")
        if loaded is None:
            return None
        spec, llm = loaded
        same = spec is self.llm or (isinstance(spec, (str, dict)) and spec == self.llm)
        return llm if same else None

    @property
    def client(self) -> LLM:
        """The LLM object that ``llm`` names, loaded on first use and kept while ``llm`` stays the same."""
        loaded = self._loaded()
        if loaded is None:
            loaded = resolve_llm(self.llm)
            self.__dict__["_client"] = (self.llm, loaded)
        return loaded

    def generate(self, prompts: Sequence[Any], desc: str | None = None, unit: str = "prompts",
                 **params: Any) -> list[Generation]:
        """Completions of all ``prompts`` as one stream, with progress named ``SYSTEM / desc`` (``desc``
        defaults to the stage's name) counting ``unit``; the backend decides how many it works on at once."""
        return _call(self.client.generate, list(prompts), desc or self.name, unit, params)

    def prompt_tokens(self, prompts: Sequence[Any]) -> list[int]:
        """How many tokens each prompt is, as the backend counts them (0 where it cannot say)."""
        counter = getattr(self.client, "count_tokens", None)
        out = []
        for prompt in prompts:
            try:
                out.append(int(counter(prompt) or 0) if counter is not None else 0)
            except Exception:   # a tokenizer failure must not stop the run; the cost is then unknown
                out.append(0)
        return out

    def option_probs(self, prompts: Sequence[Any], options: list[str], desc: str | None = None,
                     unit: str = "prompts") -> list[dict[str, float]]:
        """Next-token probabilities of ``options`` for each prompt, as one stream (see :meth:`generate`)."""
        return _call(self.client.option_probs, list(prompts), desc or self.name, unit, {"options": list(options)})


def _call(method: Any, prompts: list[Any], desc: str, unit: str, params: dict[str, Any]) -> list[Any]:
    """``method(prompts, **params)`` with the progress description where the LLM takes one (a cached LLM;
    a bare backend object is called as the LLM Protocol says)."""
    if isinstance(getattr(method, "__self__", None), CachedLLM):
        return method(prompts, desc=desc, unit=unit, **params)
    return method(prompts, **params)


def llm_provenance(stage: Stage) -> list[Any]:
    """What the LLMs of ``stage`` and the stages inside it record about themselves (:meth:`LLMStage.llm_provenance`)."""
    from rag.core.stage import walk

    return [s.llm_provenance() for s in walk(stage) if isinstance(s, LLMStage)]


def generation_cost(generations: Sequence[Generation]) -> tuple[int, int, float]:
    """Prompt tokens, completion tokens and seconds of some calls (a cached call counts what it cost)."""
    return (sum(int(getattr(g, "prompt_tokens", 0) or 0) for g in generations),
            sum(int(getattr(g, "completion_tokens", 0) or 0) for g in generations),
            float(sum(float(getattr(g, "latency_s", 0.0) or 0.0) for g in generations)))


def add_cost(frame: pd.DataFrame, prompt_tokens: Sequence[float], completion_tokens: Sequence[float],
             seconds: Sequence[float]) -> pd.DataFrame:
    """``frame`` with its rows' cost added to the per-question cost columns (which earlier stages may
    have filled: the sums run over the whole pipeline). Sequences align with ``frame``'s rows."""
    out = frame.copy()
    for column, values in zip(COST_COLUMNS, (prompt_tokens, completion_tokens, seconds)):
        before = pd.to_numeric(out[column], errors="coerce").fillna(0.0).to_numpy(dtype="float64") \
            if column in out.columns else np.zeros(len(out))
        out[column] = before + np.asarray(values, dtype="float64")
    return out
