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
from rag.evaluation.measures import register_measure
from rag.evaluation.answers.score import ALL_METRICS, score_answers

_JUDGE: dict[str, Any] = {"llm": None, "spec": "qwen-0.5b"}


def set_judge(llm: Any) -> None:
    """Use ``llm`` (an object or a ``rag.llm.load_llm`` spec) for the LLM-Eval / LLM-Critic measures."""
    if isinstance(llm, (str, dict)):
        _JUDGE.update(llm=None, spec=llm)
    else:
        _JUDGE.update(llm=llm)


def _judge() -> Any:
    if _JUDGE["llm"] is None:
        from rag.llm import load_llm
        _JUDGE["llm"] = load_llm(_JUDGE["spec"])
    return _JUDGE["llm"]


@dataclass
class AnswerMeasure:
    """One metric of :func:`~rag.evaluation.answers.score_answers` as a per-query measure."""

    name: str

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        if "qid" not in results.columns:
            raise InputError(f"{self.name} needs an answers table with a 'qid' column", field="qid")
        if results["qid"].duplicated().any():
            raise InputError(f"{self.name} scores answers (one row per qid); this table has several rows per "
                             "query - put a reader stage at the end of the pipeline", field="qid")
        llm = _judge() if self.name in ("LLM-Eval", "LLM-Critic") else None
        scored = score_answers(results, [self.name], llm=llm)
        return pd.Series(scored[self.name].to_numpy(), index=scored["qid"].astype(str), name=self.name)


def register_all() -> None:
    for name in ALL_METRICS:
        if name != "NLI":  # needs a model name that a measure string cannot carry
            register_measure(name, lambda spec, _n=name: AnswerMeasure(_n))


register_all()
