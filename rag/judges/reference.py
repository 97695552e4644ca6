"""Reference-guided pairwise judging, HREF style (Lyu et al. 2024, arXiv 2412.15524; METHODS.md §15).

The judge sees the instruction, a human-written reference response and two responses (a baseline's and the
model's) and says which is better; asked in both orders, the model wins when its probability of being chosen,
averaged over the orders, is above 0.5, ties at exactly 0.5. Per question: 1 win, 0.5 tie, 0 loss, so the mean is
HREF's win rate (wins + ties / 2). ``with_reference=False`` drops the reference (HREF's ``basic_no_reference``
judge). HREF's judge template was not readable ([UNVERIFIED]); the prompt is ours.
"""
from __future__ import annotations

import math
from typing import Sequence

from rag.llm import LLM

WITH_REFERENCE = ("Which response follows the instruction better? A human-written reference response is given to "
                  "help you judge.\n\n## Instruction\n{instruction}\n\n## Reference response (human-written)\n"
                  "{reference}\n\n## Response (a)\n{first}\n\n## Response (b)\n{second}\n\n"
                  "Answer with one letter, a or b.")
WITHOUT_REFERENCE = ("Which response follows the instruction better?\n\n## Instruction\n{instruction}\n\n"
                     "## Response (a)\n{first}\n\n## Response (b)\n{second}\n\nAnswer with one letter, a or b.")


def outcome(p_model: float) -> float:
    """1 (model wins), 0.5 (tie) or 0 (baseline wins) from the model's probability of being preferred."""
    if math.isnan(p_model):
        return math.nan
    return 1.0 if p_model > 0.5 else 0.5 if p_model == 0.5 else 0.0


def win_rate(outcomes: Sequence[float]) -> float:
    """Mean of 1/0.5/0 outcomes = wins + ties / 2 (NaN outcomes left out)."""
    values = [o for o in outcomes if not math.isnan(o)]
    return sum(values) / len(values) if values else math.nan


def pairwise_with_reference(llm: LLM, instructions: Sequence[str], references: Sequence[str],
                            baseline: Sequence[str], model: Sequence[str], with_reference: bool = True) -> list[float]:
    """Each question's outcome for ``model`` against ``baseline`` (both orders averaged)."""
    template = WITH_REFERENCE if with_reference else WITHOUT_REFERENCE
    chats = []
    for ins, ref, base, mine in zip(instructions, references, baseline, model):
        chats.append(template.format(instruction=ins, reference=ref, first=base, second=mine))
        chats.append(template.format(instruction=ins, reference=ref, first=mine, second=base))
    probs = llm.option_probs(chats, ["a", "b"]) if chats else []
    out = []
    for i in range(len(model)):
        second, first = probs[2 * i], probs[2 * i + 1]
        p = (float(second.get("b", math.nan)) + float(first.get("a", math.nan))) / 2
        out.append(outcome(p))
    return out
