"""Correctness and faithfulness metrics for QA answers (Adlakha et al., TACL 2024; METHODS §1).

:func:`score_answers` scores a table of answers; every metric is also a ragif measure (``EM``,
``F1``, ``Recall``, ``K-Precision``, ...) usable in experiment configs.
"""
from __future__ import annotations

from rag.evaluation.answers.overlap import correctness_scores, faithfulness_scores
from rag.evaluation.answers.score import ALL_METRICS, CORRECTNESS_METRICS, DEFAULT_METRICS, FAITHFULNESS_METRICS, score_answers
from rag.evaluation.answers.text import answer_tokens, normalize_answer

__all__ = ["score_answers", "correctness_scores", "faithfulness_scores", "normalize_answer", "answer_tokens",
           "ALL_METRICS", "CORRECTNESS_METRICS", "FAITHFULNESS_METRICS", "DEFAULT_METRICS"]
