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
from typing import Any, Callable, Sequence

from rag.judges import parse, prompts
from rag.llm import LLM, CachedLLM

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


@dataclass
class Plan:
    """What a judge method asks about one question (``chats``, all with the same generation ``seed``) and how
    the replies become a verdict (``decide(texts) -> (selected, ranking, unparsable)``)."""

    chats: list
    decide: Callable[[list[str]], tuple[list[int], list[int], int]]
    seed: int = 0


def _plan_pointwise(question: str, passages: Sequence[str], guard: bool = True) -> Plan:
    def decide(texts: list[str]) -> tuple[list[int], list[int], int]:
        verdicts = [parse.pointwise(t) for t in texts]
        selected = [i for i, v in enumerate(verdicts) if v]
        return selected, selected + [i for i in range(len(passages)) if i not in selected], \
            sum(v is None for v in verdicts)

    return Plan([prompts.pointwise(question, p, guard) for p in passages], decide)


def _plan_pairwise(question: str, passages: Sequence[str], guard: bool = True, calibrate: bool = True,
                   keep: int | None = None) -> Plan:
    pairs = list(combinations(range(len(passages)), 2))
    orders = [(i, j) for i, j in pairs] + ([(j, i) for i, j in pairs] if calibrate else [])

    def decide(texts: list[str]) -> tuple[list[int], list[int], int]:
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
        return selected, ranking, unparsable

    return Plan([prompts.pairwise(question, passages[a], passages[b], guard) for a, b in orders], decide)


def _plan_listwise_set(question: str, passages: Sequence[str], guard: bool = True,
                       order: Sequence[int] | None = None, seed: int = 0) -> Plan:
    order = list(order) if order is not None else list(range(len(passages)))

    def decide(texts: list[str]) -> tuple[list[int], list[int], int]:
        shown = parse.listwise_set(texts[0], len(order))
        selected = [order[i] for i in shown] if shown else []
        return selected, selected + [i for i in range(len(passages)) if i not in selected], int(shown is None)

    return Plan([prompts.listwise_set(question, [passages[i] for i in order], guard)], decide, seed)


def _plan_listwise_rank(question: str, passages: Sequence[str], guard: bool = True, keep: int = 1) -> Plan:
    def decide(texts: list[str]) -> tuple[list[int], list[int], int]:
        ranking = parse.listwise_rank(texts[0], len(passages))
        unparsable = int(ranking is None)
        ranking = ranking or list(range(len(passages)))
        return ranking[:keep], ranking, unparsable

    return Plan([prompts.listwise_rank(question, passages, guard)], decide)


AGGREGATES = ("majority", "union", "intersection")


def _plan_k_sampling(question: str, passages: Sequence[str], samples: int = 5,
                     aggregate: str = "majority", seed: int = 0, guard: bool = True) -> Plan:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    rng = random.Random(seed)
    plans = []
    for sample in range(samples):
        order = list(range(len(passages)))
        if sample:  # the first sample keeps the given order
            rng.shuffle(order)
        plans.append(_plan_listwise_set(question, passages, guard, order=order, seed=seed))

    def decide(texts: list[str]) -> tuple[list[int], list[int], int]:
        votes = [0] * len(passages)
        unparsable = 0
        for one, text in zip(plans, texts):
            selected, _, bad = one.decide([text])
            unparsable += bad
            for i in selected:
                votes[i] += 1
        need = {"majority": math.ceil(samples / 2), "union": 1, "intersection": samples}[aggregate]
        return ([i for i in range(len(passages)) if votes[i] >= need],
                sorted(range(len(passages)), key=lambda i: (-votes[i], i)), unparsable)

    return Plan([one.chats[0] for one in plans], decide, seed)


PLANS: dict[str, Callable[..., Plan]] = {"pointwise": _plan_pointwise, "pairwise": _plan_pairwise,
                                         "listwise-set": _plan_listwise_set, "listwise-rank": _plan_listwise_rank,
                                         "k-sampling": _plan_k_sampling}


def judge_many(llm: LLM, method: str, questions: Sequence[str], passages: Sequence[Sequence[str]],
               max_tokens: int = DEFAULT_MAX_TOKENS, desc: str | None = None, **options: Any) -> list[Judgment]:
    """One :class:`Judgment` per question with ``method`` (a key of :data:`METHODS`): the prompts of every
    question go to the LLM in one call (one stream), and replies that cannot be parsed give one warning with
    counts for the whole call. ``desc`` names the progress (a cached LLM shows it)."""
    if method not in PLANS:
        raise ValueError(f"unknown judge method {method!r}; use one of {sorted(PLANS)}")
    plans = [PLANS[method](q, list(ps), **options) for q, ps in zip(questions, passages)]
    judgments: list[Any] = [None] * len(plans)
    for seed in dict.fromkeys(p.seed for p in plans):   # one call per seed (in practice one call)
        chosen = [i for i, p in enumerate(plans) if p.seed == seed]
        chats = [c for i in chosen for c in plans[i].chats]
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0, "seed": seed}
        if desc is not None and isinstance(llm, CachedLLM):
            kwargs.update(desc=desc, unit="judge prompts")
        gens = llm.generate(chats, **kwargs) if chats else []
        at = 0
        for i in chosen:
            mine = gens[at:at + len(plans[i].chats)]
            at += len(mine)
            texts = [g.text for g in mine]
            selected, ranking, unparsable = plans[i].decide(texts)
            judgments[i] = Judgment(selected, ranking, unparsable, calls=len(mine),
                                    prompt_tokens=sum(g.prompt_tokens for g in mine),
                                    completion_tokens=sum(g.completion_tokens for g in mine),
                                    seconds=sum(g.latency_s for g in mine), raw=texts)
    bad = sum(j.unparsable for j in judgments)
    if bad:
        log.warning("%s judge: %d of %d replies could not be parsed, for %d of %d questions (counted as unparsable, "
                    "not selected)", method, bad, sum(j.calls for j in judgments),
                    sum(1 for j in judgments if j.unparsable), len(judgments))
    return judgments


def pointwise(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
              max_tokens: int = DEFAULT_MAX_TOKENS) -> Judgment:
    """Each passage judged alone; selected = those judged "yes" (unparsable replies count as not selected)."""
    return judge_many(llm, "pointwise", [question], [passages], max_tokens, guard=guard)[0]


def pairwise(llm: LLM, question: str, passages: Sequence[str], guard: bool = True, calibrate: bool = True,
             max_tokens: int = DEFAULT_MAX_TOKENS, keep: int | None = None) -> Judgment:
    """All pairs i<j; with ``calibrate`` (balanced position calibration) each pair is also asked in the
    swapped order and the two verdicts are averaged. Winners are recorded per pair (the released script
    used stale loop indices). Ranking by wins (aggregation UNVERIFIED in the paper: wins is our default);
    selected = the top ``keep`` (default: passages that win at least half of their comparisons)."""
    return judge_many(llm, "pairwise", [question], [passages], max_tokens, guard=guard, calibrate=calibrate,
                      keep=keep)[0]


def listwise_set(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
                 max_tokens: int = DEFAULT_MAX_TOKENS, order: Sequence[int] | None = None, seed: int = 0) -> Judgment:
    """One call over all passages (in ``order``, default as given); selection mapped back to input indices."""
    return judge_many(llm, "listwise-set", [question], [passages], max_tokens, guard=guard, order=order,
                      seed=seed)[0]


def listwise_rank(llm: LLM, question: str, passages: Sequence[str], guard: bool = True,
                  max_tokens: int = DEFAULT_MAX_TOKENS, keep: int = 1) -> Judgment:
    """One call ranking all passages; selected = the top ``keep``."""
    return judge_many(llm, "listwise-rank", [question], [passages], max_tokens, guard=guard, keep=keep)[0]


def k_sampling(llm: LLM, question: str, passages: Sequence[str], samples: int = 5,
               aggregate: str = "majority", seed: int = 0, guard: bool = True, max_tokens: int = DEFAULT_MAX_TOKENS) -> Judgment:
    """Listwise-set on ``samples`` orders of the passages (the given one, then random ones), votes mapped back
    to passage ids; keep the passages with at least ceil(samples/2) votes (majority), any vote (union) or all
    votes (intersection). The paper's k (here ``samples``) and the aggregation are UNVERIFIED there; defaults
    5, majority (METHODS §4.5)."""
    return judge_many(llm, "k-sampling", [question], [passages], max_tokens, samples=samples, aggregate=aggregate,
                      seed=seed, guard=guard)[0]


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
    gens = llm.generate([prompts.pointwise(q, p, guard) for q, p in zip(questions, passages)],
                        max_tokens=DEFAULT_MAX_TOKENS, temperature=0.0, seed=0)
    return [bool(parse.pointwise(g.text)) for g in gens]
