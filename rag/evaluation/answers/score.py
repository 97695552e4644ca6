"""One entry point: score a table of answers with any set of correctness and faithfulness metrics.

>>> from rag.evaluation.answers import score_answers
>>> score_answers(frame, ["EM", "F1", "Recall", "K-Precision"])          # doctest: +SKIP

Input columns (first match wins): question ``query``/``question``; response ``answer``/``response``/
``prediction``; gold answers ``answers``/``golds``/``gold`` (a list, or one string); evidence
``evidence`` (one string) or ``contexts`` (the passage texts that were in the prompt, joined with
single spaces, as the reference code does); optional ``history`` (earlier turns, strings or
``{"utterance": ...}`` dicts) which the ``++`` metrics add to the question.
Output: the input with one float column per metric, and in ``attrs`` what the table's provenance must
record: ``meteor_stages`` (the METEOR alignment stages that ran: exact, stem and, with WordNet, synonym),
``bertscore_model``, ``nli_model`` and ``judge_model`` (the models used).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from rag.core.errors import InputError, did_you_mean
from rag.evaluation.answers.overlap import CORRECTNESS, FAITHFULNESS, correctness_scores, faithfulness_scores

ROUGE = ("ROUGE-1", "ROUGE-2", "ROUGE-L")
BERTSCORE = ("BERTScore-P", "BERTScore-R", "BERTScore-F1")
K_BERTSCORE = ("K-BERTScore-P", "K-BERTScore-R", "K-BERTScore-F1")
CORRECTNESS_METRICS = (*CORRECTNESS, *ROUGE, "METEOR", *BERTSCORE, "LLM-Eval")
FAITHFULNESS_METRICS = (*FAITHFULNESS, *K_BERTSCORE, "NLI", "LLM-Critic")
ALL_METRICS = (*CORRECTNESS_METRICS, *FAITHFULNESS_METRICS)
DEFAULT_METRICS = (*CORRECTNESS, "ROUGE-L", "METEOR", *FAITHFULNESS)
NEEDS_EVIDENCE = set(FAITHFULNESS_METRICS)
NEEDS_GOLD = set(CORRECTNESS_METRICS)

_COLUMNS = {"question": ("query", "question"), "response": ("answer", "response", "prediction"),
            "golds": ("answers", "golds", "gold"), "evidence": ("evidence",), "contexts": ("contexts",)}


def _column(frame: pd.DataFrame, role: str, required: bool) -> str | None:
    for name in _COLUMNS[role]:
        if name in frame.columns:
            return name
    if required:
        raise InputError(f"scoring needs a {role} column (one of {list(_COLUMNS[role])}); the table has "
                         f"{list(frame.columns)}", field=_COLUMNS[role][0])
    return None


def _gold_lists(values: pd.Series, column: str) -> list[list[str]]:
    out = []
    for i, v in enumerate(values.tolist()):
        if type(v) is list and all(type(x) is str for x in v):
            out.append(v)
        elif isinstance(v, str):
            out.append([v])
        elif isinstance(v, (list, tuple, np.ndarray, pd.Series)):
            out.append([str(x) for x in (v.tolist() if isinstance(v, (np.ndarray, pd.Series)) else v)])
        else:
            raise InputError(f"row {i}: gold answers must be a list of strings or a string, got {v!r}", field=column)
        if not out[-1]:
            raise InputError(f"row {i}: no gold answer (correctness metrics need at least one)", line=i + 1,
                             field=column)
    return out


def _texts(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        return [v]
    return [str(x.get("utterance", x.get("text", ""))) if isinstance(x, dict) else str(x) for x in v]


def evidence_strings(frame: pd.DataFrame) -> list[str]:
    """The evidence string of each row: ``evidence`` as is, or the ``contexts`` texts joined by spaces."""
    col = _column(frame, "evidence", False)
    if col is not None:
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[col]]
    col = _column(frame, "contexts", False)
    if col is None:
        raise InputError("faithfulness metrics need an 'evidence' (string) or 'contexts' (list of passage texts) "
                         f"column; the table has {list(frame.columns)}", field="contexts")
    return [" ".join(_texts(v)) for v in frame[col]]


def question_strings(frame: pd.DataFrame, include_history: bool = True) -> list[str]:
    """The question of each row, preceded by the conversation history when there is one (for ``++``)."""
    qs = [str(q) for q in frame[_column(frame, "question", True)]]
    if include_history and "history" in frame.columns:
        return [" ".join([*_texts(h), q]) for h, q in zip(frame["history"], qs)]
    return qs


def check_metrics(metrics: Sequence[str]) -> list[str]:
    out = []
    for m in metrics:
        if m not in ALL_METRICS:
            raise InputError(f"unknown answer metric {m!r}{did_you_mean(m, ALL_METRICS)}; known: {list(ALL_METRICS)}",
                             field="metrics")
        out.append(m)
    return out


def _model_scorers(wanted: Sequence[str], bertscore: Any, nli: Any) -> tuple[Any, Any]:
    """The BERTScore and NLI scorers the metrics need (None when not needed); models are resolved here."""
    bert_scorer = nli_scorer = None
    if (set(BERTSCORE) | set(K_BERTSCORE)) & set(wanted):
        from rag.evaluation.answers.bertscore import BertScorer
        bert_scorer = bertscore if isinstance(bertscore, BertScorer) else BertScorer(bertscore)
    if "NLI" in wanted:
        from rag.evaluation.answers.nli import NLIScorer
        if nli is None:
            raise InputError("the NLI metric needs an NLI model (nli='roberta-large-mnli' or a local folder); "
                             "none is available offline", field="nli")
        nli_scorer = nli if isinstance(nli, NLIScorer) else NLIScorer(str(nli))
    return bert_scorer, nli_scorer


def score_answers(frame: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS, *, llm: Any = None,
                  bertscore: Any = None, nli: Any = None, judge_mode: str = "generate",
                  parity: bool = True, seed: int = 0) -> pd.DataFrame:
    """Score every row; returns a copy of ``frame`` with one column per metric.

    ``llm``: an object following the ``rag.llm`` contract (for LLM-Eval / LLM-Critic);
    ``bertscore``: a :class:`~rag.evaluation.answers.bertscore.BertScorer` or a model name (default: offline MiniLM);
    ``nli``: an :class:`~rag.evaluation.answers.nli.NLIScorer` or an NLI model name (required for ``NLI``).
    """
    wanted = check_metrics(metrics)
    bert_scorer, nli_scorer = _model_scorers(wanted, bertscore, nli)   # an unavailable model fails here, first
    if {"LLM-Eval", "LLM-Critic"} & set(wanted) and llm is None:
        raise InputError("LLM-Eval / LLM-Critic need an llm (see rag.llm.load_llm)", field="llm")
    out = frame.copy().reset_index(drop=True)
    if out.empty:
        for m in wanted:
            out[m] = pd.Series(dtype="float64")
        return out
    responses = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                 for v in out[_column(out, "response", True)]]
    golds = None
    if NEEDS_GOLD & set(wanted):
        gcol = _column(out, "golds", True)
        golds = _gold_lists(out[gcol], gcol)
    evidence = evidence_strings(out) if NEEDS_EVIDENCE & set(wanted) else None
    computed: dict[str, Any] = {}

    if set(CORRECTNESS) & set(wanted):
        computed.update(correctness_scores(responses, golds, [m for m in CORRECTNESS if m in wanted]).to_dict("series"))
    if set(ROUGE) & set(wanted):
        from rag.evaluation.answers.rouge import rouge_scores
        computed.update(rouge_scores(responses, golds).to_dict("series"))
    if "METEOR" in wanted:
        from rag.evaluation.answers.meteor import meteor_scores
        computed["METEOR"] = meteor_scores(responses, golds)
        out.attrs["meteor_stages"] = computed["METEOR"].attrs["stages"]
    if set(FAITHFULNESS) & set(wanted):
        plus = bool({"K-Precision++", "K-Recall++", "K-F1++"} & set(wanted))
        qs = question_strings(out) if plus else None
        computed.update(faithfulness_scores(responses, evidence, qs, [m for m in FAITHFULNESS if m in wanted]
                                            ).to_dict("series"))
    if bert_scorer is not None:
        scorer = bert_scorer
        if set(BERTSCORE) & set(wanted):
            prf = scorer.score(responses, golds)
            computed.update({f"BERTScore-{c}": prf[c] for c in prf.columns})
        if set(K_BERTSCORE) & set(wanted):
            prf = scorer.score(responses, [[e] for e in evidence])
            computed.update({f"K-BERTScore-{c}": prf[c] for c in prf.columns})
        out.attrs["bertscore_model"] = scorer.model_name
    if nli_scorer is not None:
        computed["NLI"] = nli_scorer.score(evidence, responses)
        out.attrs["nli_model"] = nli_scorer.model
    if {"LLM-Eval", "LLM-Critic"} & set(wanted):
        from rag.evaluation.answers.llm_judge import llm_critic, llm_eval
        qs = [str(q) for q in out[_column(out, "question", True)]]
        if "LLM-Eval" in wanted:
            computed["LLM-Eval"] = llm_eval(llm, qs, responses, golds, judge_mode, parity, seed)
        if "LLM-Critic" in wanted:
            computed["LLM-Critic"] = llm_critic(llm, qs, responses, evidence, judge_mode, parity, seed)
        out.attrs["judge_model"] = getattr(llm, "name", type(llm).__name__)
    for m in wanted:
        out[m] = np.asarray(computed[m], dtype=np.float64)
    return out
