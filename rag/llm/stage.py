"""The one way a stage holds an LLM: :class:`LLMStage`.

``llm`` is a spec for :func:`rag.llm.load_llm` (a name such as ``"qwen-0.5b"``, a ``.gguf`` path or a
mapping such as ``{backend: openai, model: ..., base_url: ...}``) or an LLM object (the
:class:`~rag.llm.base.LLM` Protocol). The model is loaded once, on first use; only its identity (the
spec, or the object's ``name``) enters the stage's cache key. Every LLM stage adds what its calls cost
to the per-question cost columns (:data:`rag.core.schema.COST_COLUMNS`), summed over the pipeline.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence, Union

import numpy as np
import pandas as pd

from rag.core.errors import MissingDependencyError
from rag.core.progress import progress
from rag.core.schema import COST_COLUMNS
from rag.core.stage import Stage
from rag.llm import LLM, Generation

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
    """What identifies an LLM in a cache key and a record: the spec without credentials in its ``base_url``,
    or a loaded object's ``name``."""
    from rag.llm import spec_identity

    return spec_identity(spec)


@dataclasses.dataclass(repr=False)
class LLMStage(Stage):
    """Base of every stage that calls an LLM (readers, LLM rerankers, utility judges, adaptive signals).

    Subclasses call :attr:`client` (the loaded LLM) through :meth:`generate` / :meth:`option_probs`
    (batched, with progress) and record cost with :func:`add_cost`.
    """

    llm: LLMSpec = DEFAULT_LLM

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        if "llm" in cfg:
            cfg["llm"] = llm_identity(cfg["llm"])
        return cfg

    @property
    def client(self) -> LLM:
        """The LLM, loaded on first use and kept for the stage's lifetime."""
        loaded = self.__dict__.get("_client")
        if loaded is None:
            loaded = resolve_llm(self.llm)
            self.__dict__["_client"] = loaded
        return loaded

    @client.setter
    def client(self, llm: LLM) -> None:
        """Use an already loaded LLM (it becomes the stage's ``llm``, so its identity is in the cache key)."""
        self.llm = llm
        self.__dict__["_client"] = llm

    def generate(self, prompts: Sequence[Any], batch_size: int = 16, desc: str | None = None,
                 **params: Any) -> list[Generation]:
        """Completions of ``prompts`` in batches, with a progress line."""
        out: list[Generation] = []
        starts = range(0, len(prompts), max(1, batch_size))
        for start in progress(starts, total=len(starts), desc=desc or self.name, unit="batch"):
            out.extend(self.client.generate(list(prompts[start:start + batch_size]), **params))
        return out

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

    def option_probs(self, prompts: Sequence[Any], options: list[str], batch_size: int = 16,
                     desc: str | None = None) -> list[dict[str, float]]:
        """Next-token probabilities of ``options`` for each prompt, in batches, with a progress line."""
        out: list[dict[str, float]] = []
        starts = range(0, len(prompts), max(1, batch_size))
        for start in progress(starts, total=len(starts), desc=desc or self.name, unit="batch"):
            out.extend(self.client.option_probs(list(prompts[start:start + batch_size]), list(options)))
        return out


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
