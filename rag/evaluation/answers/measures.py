"""The answer metrics as ragif measures, so configs and :class:`~rag.experiment.Experiment` can name them.

An answer measure reads an answers table (one row per ``qid``: ``query``, ``answer``, ``answers``,
``contexts``) and ignores qrels. LLM judges use the offline default model of ``rag.llm`` unless
:func:`set_judge` names another; BERTScore uses the offline MiniLM.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from rag.core.errors import InputError
from rag.evaluation.answers.score import ALL_METRICS, CORRECTNESS_METRICS, evidence_strings, score_answers

_JUDGE: dict[str, Any] = {"llm": None, "spec": "qwen-0.5b"}


def set_judge(llm: Any) -> None:
    """Use ``llm`` (an object or a ``rag.llm.load_llm`` spec) for the LLM-Eval / LLM-Critic measures."""
    if isinstance(llm, (str, dict)):
        _JUDGE.update(llm=None, spec=llm)
    else:
        _JUDGE.update(llm=llm)


def judge_identity() -> Any:
    """What identifies the judge :func:`set_judge` chose (its spec, or a loaded object's name): part of the
    cache key of every value an LLM judge measure computes with it."""
    from rag.llm.stage import llm_identity

    return llm_identity(_JUDGE["llm"] if _JUDGE["llm"] is not None else _JUDGE["spec"])


def _judge() -> Any:
    if _JUDGE["llm"] is None:
        from rag.llm import load_llm
        _JUDGE["llm"] = load_llm(_JUDGE["spec"])
    return _JUDGE["llm"]


MODEL_METRICS = ("BERTScore-P", "BERTScore-R", "BERTScore-F1", "K-BERTScore-P", "K-BERTScore-R", "K-BERTScore-F1",
                 "NLI")
LLM_METRICS = ("LLM-Eval", "LLM-Critic")
VERBOSE_OK = ("Recall", "Recall-S", "Recall-S-word", "BERTScore-R", "LLM-Eval")   # correctness that suits long answers


@dataclass(frozen=True)
class AnswerMeasure:
    """One metric of :func:`~rag.evaluation.answers.score_answers` as a per-query measure.

    ``model``: the embedder of BERTScore / K-BERTScore or the NLI model (``NLI(model=...)``); ``llm``: the
    judge of LLM-Eval / LLM-Critic (a :func:`rag.llm.load_llm` name; default :func:`set_judge`'s).
    Faithfulness is undefined for an answer given without passages: its value is NaN there.
    """

    name: str
    model: str | None = None
    llm: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ALL_METRICS:
            raise ValueError(f"unknown answer metric {self.name!r}")
        if self.model is not None and self.name not in MODEL_METRICS:
            raise ValueError(f"{self.name} takes no model (only {', '.join(MODEL_METRICS)} do)")
        if self.llm is not None and self.name not in LLM_METRICS:
            raise ValueError(f"{self.name} takes no llm (only {', '.join(LLM_METRICS)} do)")
        if self.name == "NLI" and not self.model:
            raise ValueError("NLI needs an NLI model: NLI(model=<name or local folder>); none is available offline")
        if self.model is not None:   # a model that is not there: one line when the measure is named, before any work
            from rag.evaluation.answers.models import resolve_model
            resolve_model(self.model, "NLI" if self.name == "NLI" else "BERTScore")

    @property
    def kind(self) -> str:
        return "correctness" if self.name in CORRECTNESS_METRICS else "faithfulness"

    @property
    def missing_reason(self) -> str:
        return "no passage in the prompt" if self.kind == "faithfulness" else "no answer"

    better = "higher"

    @property
    def suits_verbose_answers(self) -> bool:
        """Whether a long answer that contains the gold answer scores well (Adlakha et al., 2024: token
        recall and LLM judges do; EM, F1, precision and n-gram overlap penalise the extra words)."""
        return self.name in VERBOSE_OK or self.kind == "faithfulness"

    def identity(self) -> Any:
        """What decides the values besides the fields: the judge in use, the default embedder, METEOR's stages."""
        if self.name in LLM_METRICS and self.llm is None:
            return {"judge": judge_identity()}
        return self.provenance() or None

    def provenance(self) -> dict[str, Any]:
        """The model behind a model-based value (recorded next to the table)."""
        if self.name in LLM_METRICS:
            if self.llm:
                from rag.llm.stage import llm_identity
                return {"judge": llm_identity(self.llm)}
            return {"judge": judge_identity()}
        if self.name in MODEL_METRICS:
            from rag.evaluation.answers.models import DEFAULT_ENCODER
            return {"model": self.model or DEFAULT_ENCODER}
        if self.name == "METEOR":
            from rag.evaluation.answers.meteor import meteor_stages
            return {"stages": "+".join(meteor_stages())}
        return {}

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        if "qid" not in results.columns:
            raise InputError(f"{self.name} needs an answers table with a 'qid' column", field="qid")
        if results["qid"].duplicated().any():
            raise InputError(f"{self.name} scores answers (one row per qid); this table has several rows per "
                             "query - put a reader stage at the end of the pipeline", field="qid")
        llm = None
        if self.name in LLM_METRICS:
            from rag.llm import load_llm
            llm = load_llm(self.llm) if self.llm else _judge()
        extra: dict[str, Any] = {}
        if self.name.startswith(("BERTScore", "K-BERTScore")) and self.model:
            extra["bertscore"] = self.model
        if self.name == "NLI":
            extra["nli"] = self.model
        scored = score_answers(results, [self.name], llm=llm, **extra)
        values = scored[self.name].to_numpy(dtype="float64").copy()
        if self.kind == "faithfulness":
            values[[not e.strip() for e in evidence_strings(scored)]] = float("nan")
        return pd.Series(values, index=scored["qid"].astype(str).to_numpy(), name=self.name)
