"""TICK (Cook et al. 2024, arXiv 2410.03608; METHODS.md §13): an LLM writes a YES/NO checklist for an instruction
once; a judge answers every item for a response; the score is the fraction of YES.

The checklist prompt is the public copy quoted in METHODS §13 (its typos kept); the official item-answering prompt
was not released ([UNVERIFIED]): ours asks one item per call for a single YES or NO. The first YES/NO word of a
reply is the verdict; an unparsable verdict is left out of the denominator and counted; a question whose checklist
could not be parsed, or whose verdicts all failed, has no score (NaN). With ``samples > 1`` the verdicts are sampled
that many times (seeds 0..n-1, ``temperature`` > 0; the checklist stays the greedy one) and each sample is scored.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

from rag.llm import LLM

CHECKLIST_PROMPT = """Please help judge an AI assistant's response to an instruction by providing an evaluation checklist.
To write a specific evaluation checklist, you get given the following entity each time:
INSTRUCTION: An instruction that has been given to an AI assistant.

## Task Details
Your task is to come up with an evaluation checklist list for a given INSTRUCTION.
This evaluation checklist should be a list of questions that ask whether or not specific criteria relevant to the INSTRUCTION were met by an AI assistant's response.
Criteria covered by your checklist could be explicitly stated in the INSTRUCTION, or be generally sensible criteria for the problem domain.
You should, however, try to be concise and not include unnecessary entries in your checklist.

Checklist questions should:
- **Be answerable by 'yes' or 'no'**, with 'yes' meaning that the response successfully met the corresponding requirement.
- **Be comprehensive, but concise**, meaning that all criteria directly relevant to the INSTRUCTION should be represented by a question, but only questions that are very clearly relevant should be included.
- **Be precise**, meaning that checklist questions should avoid vague wording and evaluate specific aspects of a response, directly using the phrasing of the INSTRUCTION where appropriate.

You should always analyse the INSTRUCTION before providing an evaluation checklist.

## Response Format
Analysis: xxx
Answer: CHECKLIST QUESTIONS (each question should appear on a new line)

## Real Task

### INSTRUCTION
{instruction}

### Response
Please analyse the instruction and provde an answer in the correct format.
Remember that each question should be phrased such that answering with 'yes' would mean that the response **successfully** fulfilled the criteria being assessed by the question.
Your checklist should contain at least two questions, but no more than eight."""

ITEM_PROMPT = ("Answer a question about an AI assistant's response to an instruction with a single word, YES or NO."
               "\n\n### INSTRUCTION\n{instruction}\n\n### RESPONSE\n{response}\n\n### QUESTION\n{question}\n\n"
               "Answer (YES or NO):")
_BULLET = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|q\d{1,2}[.):]|question\s*\d{0,2}\s*[:.)])\s*", re.IGNORECASE)
_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


_INLINE_NUMBER = re.compile(r"(?:^|\s)\(?\d{1,2}[.)]\s+")


def parse_checklist(reply: str, max_items: int = 8) -> list[str]:
    """The checklist questions of a reply, defensively: the block after the first ``Answer:`` (up to a repeated
    ``Analysis:``; the whole reply without one), the format's placeholder "CHECKLIST QUESTIONS" and wrapping
    brackets removed, items split at line ends and at inline numbering ("1. ... 2. ..."), bullets removed,
    duplicates dropped; the items ending in "?" when there are any; at most ``max_items``."""
    text = reply if isinstance(reply, str) else ""
    mark = re.search(r"(?im)^\s*\**answer\**\s*:", text)
    if mark:
        text = text[mark.end():]
        repeat = re.search(r"(?im)^\s*\**analysis\**\s*:", text)
        text = text[:repeat.start()] if repeat else text
    text = re.sub(r"(?i)checklist questions\s*(\(each question should appear on a new line\))?\s*:?", "", text)
    items: list[str] = []
    for line in text.splitlines():
        for piece in _INLINE_NUMBER.split(line):
            piece = _BULLET.sub("", piece.strip().strip("*").strip()).strip().strip("()").strip()
            if not piece or re.match(r"(?i)^analysis\s*:", piece):
                continue
            if piece not in items:
                items.append(piece)
    questions = [item for item in items if item.endswith("?")]
    return (questions or items)[:max_items]


def parse_verdict(reply: str) -> bool | None:
    """True for YES, False for NO (the first of the two words in the reply), None when neither occurs."""
    match = _VERDICT.search(reply if isinstance(reply, str) else "")
    return None if match is None else match.group(1).lower() == "yes"


def pass_rate(verdicts: Sequence[bool | None]) -> float:
    """#YES / #parsed verdicts (unparsable ones excluded); NaN when none parsed."""
    parsed = [v for v in verdicts if v is not None]
    return sum(parsed) / len(parsed) if parsed else math.nan


@dataclass
class TickResult:
    """One response judged: the checklist, each sample's verdicts and score, unparsable verdicts, cost."""

    checklist: list[str]
    verdicts: list[list[bool | None]] = field(default_factory=list)   # per sample, per item
    scores: list[float] = field(default_factory=list)                 # per sample
    unparsable: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def score(self) -> float:
        values = [s for s in self.scores if not math.isnan(s)]
        return sum(values) / len(values) if values else math.nan


def _cost(result: TickResult, gens) -> None:
    result.prompt_tokens += sum(int(g.prompt_tokens or 0) for g in gens)
    result.completion_tokens += sum(int(g.completion_tokens or 0) for g in gens)
    result.seconds += sum(float(g.latency_s or 0.0) for g in gens)


def checklists(llm: LLM, instructions: Sequence[str], max_tokens: int = 320, max_items: int = 8
               ) -> dict[str, tuple[list[str], list]]:
    """One checklist per distinct instruction (greedy; the LLM cache keeps it for every later run)."""
    unique = list(dict.fromkeys(instructions))
    gens = llm.generate([CHECKLIST_PROMPT.format(instruction=i) for i in unique], max_tokens=max_tokens,
                        temperature=0.0, seed=0)
    return {i: (parse_checklist(g.text, max_items), [g]) for i, g in zip(unique, gens)}


def tick(llm: LLM, instructions: Sequence[str], responses: Sequence[str], samples: int = 1,
         temperature: float = 0.0, seed: int = 0, max_items: int = 8, verdict_tokens: int = 8) -> list[TickResult]:
    """TICK for each (instruction, response): checklist once per instruction, every item answered per sample."""
    lists = checklists(llm, instructions, max_items=max_items)
    results, chats, owners = [], [], []
    charged: set[str] = set()   # a checklist is paid for once, by the first response judged with it
    for n, (instruction, response) in enumerate(zip(instructions, responses)):
        items, gens = lists[instruction]
        result = TickResult(list(items))
        if instruction not in charged:
            _cost(result, gens)
            charged.add(instruction)
        results.append(result)
        for item in items:
            chats.append(ITEM_PROMPT.format(instruction=instruction, response=response, question=item))
            owners.append(n)
    for sample in range(samples):
        gens = llm.generate(chats, max_tokens=verdict_tokens, temperature=temperature, seed=seed + sample) \
            if chats else []
        per: list[list[bool | None]] = [[] for _ in results]
        for owner, gen in zip(owners, gens):
            per[owner].append(parse_verdict(gen.text))
            _cost(results[owner], [gen])
        for result, verdicts in zip(results, per):
            result.verdicts.append(verdicts)
            result.scores.append(pass_rate(verdicts))
            result.unparsable += sum(v is None for v in verdicts)
    return results
