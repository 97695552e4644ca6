"""Meta Ranking (Liu et al. 2024, arXiv 2402.12146; METHODS.md §14): a weak LLM judges whether a (query, response)
pair is reliable by comparing it with reference pairs whose correctness is known.

The paper's aggregation was not released ([UNVERIFIED]); this is METHODS' stated default: for each reference r_j
with label y_j, the judge says which pair is more reliable, in both orders (position bias cancels); a comparison
votes +1 when the target beats a *correct* reference, -1 when an *incorrect* reference beats the target, 0
otherwise (with both orders, the target's probability of being preferred is averaged over the two orders before
the vote, so a judge that always picks one slot ties; ``combine="votes"`` averages per-order votes instead); the
score is the mean vote in [-1, 1] (a low score: unreliable - route to retrieval or abstain below
tau). The judge's choice is read from its next-token probabilities over "A" / "B" (one forward pass per comparison).
The comparison prompt is ours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from rag.core.errors import InputError
from rag.llm import LLM

PROMPT = ("Below are two question-response pairs. Which response is more reliable, that is, more likely to be a "
          "correct answer to its own question?\n\nPair A\nQuestion: {q_a}\nResponse: {r_a}\n\nPair B\n"
          "Question: {q_b}\nResponse: {r_b}\n\nAnswer with one letter, A or B.")


@dataclass(frozen=True)
class Reference:
    """A reference pair of known correctness."""

    query: str
    response: str
    correct: bool


def vote(target_preferred: bool | None, correct: bool) -> float:
    """+1: the target beats a correct reference; -1: an incorrect reference beats the target; else 0."""
    if target_preferred is None:
        return 0.0
    if target_preferred and correct:
        return 1.0
    if not target_preferred and not correct:
        return -1.0
    return 0.0


def references_from(table: pd.DataFrame, n: int = 5) -> list[Reference]:
    """``n`` reference pairs from labelled QA examples (``query``, ``answers``), taken from the end of the table
    (configs evaluate the first questions, so these are usually not judged themselves): alternately correct (the
    question with its first gold answer) and incorrect (the question with the next example's gold answer)."""
    rows = table[table["answers"].map(lambda a: isinstance(a, (list, tuple)) and len(a) > 0)] \
        if "answers" in table.columns else table.head(0)
    if len(rows) < n + 1:
        raise InputError(f"Meta Ranking needs {n + 1} labelled questions (query + answers) to build {n} reference "
                         f"pairs; the data set has {len(rows)}", field="references")
    tail = rows.tail(n + 1).reset_index(drop=True)
    out = []
    for j in range(n):
        query, gold = str(tail.loc[j, "query"]), str(tail.loc[j, "answers"][0])
        wrong = str(tail.loc[j + 1, "answers"][0])
        out.append(Reference(query, gold, True) if j % 2 == 0 else Reference(query, wrong, False))
    return out


def read_references(items: Sequence[dict]) -> list[Reference]:
    """References written in a config: ``{query, response, correct}`` mappings."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"query", "response", "correct"} <= set(item) or \
                not isinstance(item["correct"], bool):
            raise InputError(f"reference {i} must be a mapping with query, response and correct (true/false), got "
                             f"{item!r:.80}", field="references")
        out.append(Reference(str(item["query"]), str(item["response"]), item["correct"]))
    return out


@dataclass
class MetaRankingResult:
    """A target's reliability score and its vote against each reference."""

    score: float
    votes: list[float]            # one per reference (averaged over the orders)


def meta_ranking(llm: LLM, queries: Sequence[str], responses: Sequence[str], references: Sequence[Reference],
                 both_orders: bool = True, combine: str = "probabilities") -> list[MetaRankingResult]:
    """The reliability score of each (query, response) against ``references``. With both orders, ``combine``
    ``"probabilities"`` averages the target's probability of being preferred over the two orders and votes once
    (a judge that always picks the first slot then ties, vote 0); ``"votes"`` votes per order and averages."""
    if combine not in ("probabilities", "votes"):
        raise InputError(f"combine must be 'probabilities' or 'votes', got {combine!r}", field="combine")
    if not references:
        raise InputError("Meta Ranking needs at least one reference pair", field="references")
    chats, slots = [], []
    for q, r in zip(queries, responses):
        for ref in references:
            chats.append(PROMPT.format(q_a=q, r_a=r, q_b=ref.query, r_b=ref.response))
            slots.append("A")
            if both_orders:
                chats.append(PROMPT.format(q_a=ref.query, r_a=ref.response, q_b=q, r_b=r))
                slots.append("B")
    probs = llm.option_probs(chats, ["A", "B"]) if chats else []
    per_order = len(references) * (2 if both_orders else 1)
    out = []
    for i in range(len(queries)):
        votes = []
        for j, ref in enumerate(references):
            targets = []
            for o in range(2 if both_orders else 1):
                at = i * per_order + j * (2 if both_orders else 1) + o
                p = probs[at] if isinstance(probs[at], dict) else {}
                targets.append(float(p.get(slots[at], math.nan)))
            if combine == "probabilities":
                targets = [sum(targets) / len(targets)]
            values = [vote(None if math.isnan(t) or t == 0.5 else t > 0.5, ref.correct) for t in targets]
            votes.append(sum(values) / len(values))
        out.append(MetaRankingResult(sum(votes) / len(votes), votes))
    return out
