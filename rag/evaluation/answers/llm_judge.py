"""LLM judges of Adlakha et al. (METHODS §1.4 ``llm_eval``, §1.5 ``kllm_eval``), through any backend.

Prompts are the reference strings verbatim (including the "groudedness" and "in present" typos).
Decoding: at most 2 tokens, temperature 0. Parsing (``parity=True``, the reference rule): strip
whitespace, then '.' and ','; 1 if "yes" occurs anywhere in the lower-cased reply, else 0. With
``parity=False`` the first word must be "yes" (1) or "no" (0); anything else is NaN (unparsable), so
"eyes" or "yes, but" are never silently counted. ``mode="prob"`` asks the backend for P(yes) over
{yes, no} instead (a graded score, useful for meta-evaluation). Correctness is judged once per gold
answer and the maximum is kept.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

CORRECTNESS_SYSTEM = ("You are CompareGPT, a machine to verify the correctness of predictions. "
                      "Answer with only yes/no.")
CORRECTNESS_USER = (
    'You are given a question, the corresponding ground-truth answer and a prediction from a model. Compare the '
    '"Ground-truth answer" and the "Prediction" to determine whether the prediction correctly answers the question. '
    'All information in the ground-truth answer must be present in the prediction, including numbers and dates. '
    'You must answer "no" if there are any specific details in the ground-truth answer that are not mentioned in the '
    'prediction. There should be no contradicting statements in the prediction. The prediction may contain extra '
    'information. If the prediction states something as a possibility, treat it as a definitive answer.'
    "\n\nQuestion: {question}\nGround-truth answer: {gt_answer}\nPrediction: {prediction}\n\nCompareGPT response:")
FAITHFULNESS_SYSTEM = ("You are CompareGPT, a machine to verify the groudedness of predictions. "
                       "Answer with only yes/no.")
FAITHFULNESS_USER = (
    'You are given a question, the corresponding evidence and a prediction from a model. Compare the "Prediction" '
    'and the "Evidence" to determine whether all the information of the prediction in present in the evidence or '
    'can be inferred from the evidence. You must answer "no" if there are any specific details in the prediction '
    'that are not mentioned in the evidence or cannot be inferred from the evidence.'
    "\n\nQuestion: {question}\n\nPrediction: {prediction}\n\nEvidence: {evidence}\n\nCompareGPT response:")


def parse_yes_no(reply: Any, parity: bool = True) -> float:
    """1.0 / 0.0 from a judge's reply; NaN when ``parity=False`` and the reply is neither yes nor no."""
    if not isinstance(reply, str):
        return 0.0 if parity else math.nan
    text = reply.strip().strip(".").strip(",").lower()
    if parity:
        return 1.0 if "yes" in text else 0.0
    words = text.replace(",", " ").replace(".", " ").split()
    if not words:
        return math.nan
    return 1.0 if words[0] == "yes" else 0.0 if words[0] == "no" else math.nan


def correctness_messages(question: str, gold: str, prediction: str) -> list[dict]:
    return [{"role": "system", "content": CORRECTNESS_SYSTEM},
            {"role": "user", "content": CORRECTNESS_USER.format(question=question, gt_answer=gold,
                                                                prediction=prediction)}]


def faithfulness_messages(question: str, prediction: str, evidence: str) -> list[dict]:
    return [{"role": "system", "content": FAITHFULNESS_SYSTEM},
            {"role": "user", "content": FAITHFULNESS_USER.format(question=question, prediction=prediction,
                                                                 evidence=evidence)}]


def _judge(llm: Any, chats: list[list[dict]], mode: str, parity: bool, seed: int) -> np.ndarray:
    if not chats:
        return np.empty(0)
    if mode == "prob":
        probs = llm.option_probs(chats, ["yes", "no"])
        return np.array([float(p.get("yes", math.nan)) if isinstance(p, dict) else math.nan for p in probs])
    if mode != "generate":
        raise ValueError(f"judge mode must be 'generate' or 'prob', got {mode!r}")
    gens = llm.generate(chats, max_tokens=2, temperature=0.0, seed=seed)
    return np.array([parse_yes_no(getattr(g, "text", None), parity) for g in gens])


def llm_eval(llm: Any, questions: Sequence[str], responses: Sequence[str], golds: Sequence[Sequence[str]],
             mode: str = "generate", parity: bool = True, seed: int = 0) -> np.ndarray:
    """LLM-Eval correctness per response (max over golds; NaN only if every gold was unparsable)."""
    chats, owner = [], []
    for i, (q, r, gs) in enumerate(zip(questions, responses, golds)):
        for g in gs:
            chats.append(correctness_messages(str(q), str(g), str(r)))
            owner.append(i)
    values = _judge(llm, chats, mode, parity, seed)
    out = np.full(len(responses), np.nan)
    for i, v in zip(owner, values):
        if not math.isnan(v):
            out[i] = v if math.isnan(out[i]) else max(out[i], v)
    return out


def llm_critic(llm: Any, questions: Sequence[str], responses: Sequence[str], evidence: Sequence[str],
               mode: str = "generate", parity: bool = True, seed: int = 0) -> np.ndarray:
    """LLM-Critic faithfulness per response (1 = grounded in the evidence)."""
    chats = [faithfulness_messages(str(q), str(r), str(e)) for q, r, e in zip(questions, responses, evidence)]
    return _judge(llm, chats, mode, parity, seed)
