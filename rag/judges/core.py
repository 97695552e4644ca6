"""Utility judges (Zhang et al. SIGIR 2024): pointwise, pairwise (with balanced position calibration),
listwise-set, listwise-rank and k-sampled listwise; plus the expected-score judge (Self-J) with abstention.

Every judge takes an LLM (``rag.llm`` interface), a question and its candidate passages (texts) and returns a
:class:`Judgment`: the selected passage indices, a ranking, how many replies could not be parsed, and the
LLM cost. Parsing never raises.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

from rag.judges import parse, prompts
from rag.llm import LLM

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 160


@dataclass
class Judgment:
    """A judge's verdict: selected and ranked passage indices, unparsable replies and the LLM cost."""

    selected: list[int]
    ranking: list[int]
    unparsable: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    raw: list[str] = field(default_factory=list)


def _warn_unparsable(method: str, bad: int, total: int) -> None:
    if bad:
        log.warning("%s judge: %d of %d replies could not be parsed (counted as unparsable, not selected)",
                    method, bad, total)


def _run(llm: LLM, chats: list, max_tokens: int, seed: int = 0, temperature: float = 0.0):
    gens = llm.generate(chats, max_tokens=max_tokens, temperature=temperature, seed=seed)
    cost = dict(calls=len(gens), prompt_tokens=sum(g.prompt_tokens for g in gens),
                completion_tokens=sum(g.completion_tokens for g in gens),
                seconds=sum(g.latency_s for g in gens))   # what the calls took when computed
    return [g.text for g in gens], cost


def pointwise(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
              max_tokens: int = DEFAULT_MAX_TOKENS) -> Judgment:
    """Each passage judged alone; selected = those judged "yes" (unparsable replies count as not selected)."""
    texts, cost = _run(llm, [prompts.pointwise(question, p, guard) for p in passages], max_tokens)
    verdicts = [parse.pointwise(t) for t in texts]
    _warn_unparsable("pointwise", sum(v is None for v in verdicts), len(verdicts))
    selected = [i for i, v in enumerate(verdicts) if v]
    ranking = selected + [i for i in range(len(passages)) if i not in selected]
    return Judgment(selected, ranking, sum(v is None for v in verdicts), raw=texts, **cost)


def pairwise(llm: LLM, question: str, passages: Sequence[str], guard: bool = True, calibrate: bool = True,
             max_tokens: int = DEFAULT_MAX_TOKENS, keep: int | None = None) -> Judgment:
    """All pairs i<j; with ``calibrate`` (balanced position calibration) each pair is also asked in the
    swapped order and the two verdicts are averaged. Winners are recorded per pair (the released script
    used stale loop indices). Ranking by wins (aggregation UNVERIFIED in the paper: wins is our default);
    selected = the top ``keep`` (default: passages that win at least half of their comparisons)."""
    pairs = list(combinations(range(len(passages)), 2))
    orders = [(i, j) for i, j in pairs] + ([(j, i) for i, j in pairs] if calibrate else [])
    texts, cost = _run(llm, [prompts.pairwise(question, passages[a], passages[b], guard) for a, b in orders],
                       max_tokens)
    wins = [0.0] * len(passages)
    counted = [0] * len(passages)
    unparsable = 0
    for (a, b), text in zip(orders, texts):
        choice = parse.pairwise(text)
        if choice is None:
            unparsable += 1
            continue
        wins[a if choice == 0 else b] += 1.0
        counted[a] += 1
        counted[b] += 1
    ranking = sorted(range(len(passages)), key=lambda i: (-wins[i], i))
    if keep is None:
        selected = [i for i in ranking if counted[i] and wins[i] / counted[i] >= 0.5]
    else:
        selected = ranking[:keep]
    return Judgment(selected, ranking, unparsable, raw=texts, **cost)


def listwise_set(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
                 max_tokens: int = DEFAULT_MAX_TOKENS, order: Sequence[int] | None = None, seed: int = 0) -> Judgment:
    """One call over all passages (in ``order``, default as given); selection mapped back to input indices."""
    order = list(order) if order is not None else list(range(len(passages)))
    texts, cost = _run(llm, [prompts.listwise_set(question, [passages[i] for i in order], guard)], max_tokens,
                       seed=seed)
    shown = parse.listwise_set(texts[0], len(order))
    _warn_unparsable("listwise-set", int(shown is None), 1)
    selected = [order[i] for i in shown] if shown else []
    ranking = selected + [i for i in range(len(passages)) if i not in selected]
    return Judgment(selected, ranking, int(shown is None), raw=texts, **cost)


def listwise_rank(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
                  max_tokens: int = DEFAULT_MAX_TOKENS, keep: int = 1) -> Judgment:
    texts, cost = _run(llm, [prompts.listwise_rank(question, passages, guard)], max_tokens)
    ranking = parse.listwise_rank(texts[0], len(passages))
    unparsable = int(ranking is None)
    ranking = ranking or list(range(len(passages)))
    return Judgment(ranking[:keep], ranking, unparsable, raw=texts, **cost)


AGGREGATES = ("majority", "union", "intersection")


def k_sampling(llm: LLM, question: str, passages: Sequence[str], k: int = 5, aggregate: str = "majority",
               seed: int = 0, guard: bool = True, max_tokens: int = DEFAULT_MAX_TOKENS) -> Judgment:
    """Listwise-set on ``k`` random orders of the passages, votes mapped back to passage ids; keep the
    passages with at least ceil(k/2) votes (majority), any vote (union) or all votes (intersection).
    k and the aggregation are UNVERIFIED in the paper; defaults k=5, majority (METHODS §4.5)."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    rng = random.Random(seed)
    votes = [0] * len(passages)
    total = Judgment([], [])
    for sample in range(k):
        order = list(range(len(passages)))
        if sample:  # the first sample keeps the given order
            rng.shuffle(order)
        one = listwise_set(llm, question, passages, guard, max_tokens, order=order, seed=seed)
        for i in one.selected:
            votes[i] += 1
        total.unparsable += one.unparsable
        total.calls += one.calls
        total.prompt_tokens += one.prompt_tokens
        total.completion_tokens += one.completion_tokens
        total.seconds += one.seconds
        total.raw += one.raw
    need = {"majority": math.ceil(k / 2), "union": 1, "intersection": k}[aggregate]
    total.selected = [i for i in range(len(passages)) if votes[i] >= need]
    total.ranking = sorted(range(len(passages)), key=lambda i: (-votes[i], i))
    return total


def expected_score(llm: LLM, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
    """Self-J style quality in [0, 9]: the probability-weighted digit at the first answer position."""
    chats = [prompts.EXPECTED_SCORE_PROMPT.format(question=q, answer=a) for q, a in zip(questions, answers)]
    digits = [str(d) for d in range(10)]
    return [sum(int(d) * p for d, p in probs.items()) for probs in llm.option_probs(chats, digits)]


def abstain(scores: Sequence[float], threshold: float) -> list[bool]:
    """True where the judge's expected score is below ``threshold`` (decline to answer)."""
    return [s < threshold for s in scores]


METHODS = {"pointwise": pointwise, "pairwise": pairwise, "listwise-set": listwise_set,
           "listwise-rank": listwise_rank, "k-sampling": k_sampling}


def set_prf(selected: Sequence[int], gold: Sequence[int]) -> tuple[float, float, float]:
    """Set precision, recall, F1 of selected passages against gold evidence (empty selection: P = 0)."""
    s, g = set(selected), set(gold)
    hit = len(s & g)
    p = hit / len(s) if s else 0.0
    r = hit / len(g) if g else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pointwise_judgments(llm: LLM, questions: Sequence[str], passages: Sequence[str], guard: bool = True) -> list[bool]:
    """One pointwise utility verdict per (question, passage) pair (unparsable counts as False)."""
    texts, _ = _run(llm, [prompts.pointwise(q, p, guard) for q, p in zip(questions, passages)], DEFAULT_MAX_TOKENS)
    return [bool(parse.pointwise(t)) for t in texts]
