"""IRCoT (Trivedi et al., ACL 2023): interleave chain-of-thought sentences with retrieval (METHODS.md §11.1).

Retrieve ``k`` paragraphs with the question; then repeat: generate one reasoning sentence from all paragraphs so
far and the thoughts so far; stop when it says "answer is" or after ``max_sentences``; else search with the last
thought that is not a reasoning step ("Thus, ...", "So ...", arithmetic) and add the paragraphs whose *title* is new,
up to ``max_paragraphs``. IRCoT-QA then answers with a separate reader call over every collected paragraph
(``reader="cot"``: a chain-of-thought prompt, answer read after "answer is"; ``reader="qa"``: the reader's ``qa``
template; ``reader="none"``: the answer is read from the thoughts, as FlashRAG's IRCoT does).

The per-step prompt is FlashRAG's IRCoT system prompt (quoted) with ``Wikipedia Title: ...`` paragraphs and
``Question: ...\\nThought:``; FlashRAG adds one demonstration and IRCoT several (their paragraphs are not reproduced
here: zero-shot). The CoT reader prompt is ours (IRCoT's reader used few-shot CoT demonstrations).
"""
from __future__ import annotations

import dataclasses
import re
from typing import ClassVar, Literal

import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import questions_of
from rag.core.stage import Stage
from rag.llm.stage import LLMStage
from rag.readers.active import Passage, Trace, answers_frame, retrieve, sentences
from rag.readers.prompts import TEMPLATES, post_process, render_prompt

SYSTEM = ("You serve as an intelligent assistant, adept at facilitating users through complex, multi-hop reasoning "
          "across multiple documents. This task is illustrated through demonstrations, each consisting of a document "
          "set paired with a relevant question and its multi-hop reasoning thoughts. Your task is to generate one "
          "thought for current step, DON'T generate the whole thoughts at once! If you reach what you believe to be "
          "the final step, start with \"So the answer is:\".")
COT_READER = ("Answer the question using the paragraphs. Think step by step, then finish with a sentence of the form "
              "\"So the answer is: <answer>.\"\n\n{paragraphs}\n\nQ: {question}\nA:")
ANSWER = re.compile(r".* answer is:? (.*)\.?", re.DOTALL)
_REASONING = re.compile(r"^(thus|so|that is,|therefore|hence)\b", re.IGNORECASE)
_ARITHMETIC = re.compile(r"^[\d\s.,]+[-+*/x][\d\s.,]+=\s*[\d.,]+\s*\.?$")


def extract_answer(text: str) -> str | None:
    """The answer after "answer is" (IRCoT's regex, one trailing full stop removed), or None."""
    match = ANSWER.match((text or "").strip())
    if not match:
        return None
    answer = match.group(1).strip()
    return answer[:-1].rstrip() if answer.endswith(".") else answer


def is_reasoning(sentence: str) -> bool:
    """A reasoning step (starts with thus / so / that is, / therefore / hence, or is arithmetic)."""
    text = sentence.strip()
    return bool(_REASONING.match(text) or _ARITHMETIC.match(text))


def next_query(thoughts: list[str], question: str) -> str:
    """The last thought that is not a reasoning step; the question when there is none."""
    for thought in reversed(thoughts):
        if not is_reasoning(thought):
            return thought
    return question


def add_new_titles(pool: list[Passage], found: list[Passage], cap: int) -> list[Passage]:
    """``pool`` plus the ``found`` paragraphs whose title (docno when untitled) is new, up to ``cap`` paragraphs."""
    out = list(pool)
    titles = {p.title or p.docno for p in out}
    for p in found:
        if len(out) >= cap:
            break
        key = p.title or p.docno
        if key not in titles:
            out.append(p)
            titles.add(key)
    return out


def paragraphs_text(pool: list[Passage]) -> str:
    return "\n\n".join(f"Wikipedia Title: {p.title}\n{p.text}" for p in pool)


@dataclasses.dataclass(repr=False)
class IRCoT(LLMStage):
    """Interleaved retrieval and chain of thought; ``retriever`` is any ragif retriever or pipeline giving text."""

    retriever: Stage = None            # any ragif retriever or pipeline giving text, e.g. [{bm25: {k: 6}}, add-text]
    k: int = 6                          # paragraphs per retrieval (IRCoT's HotpotQA Codex config: 6)
    max_sentences: int = 10             # at most this many thoughts (IRCoT: 10)
    max_paragraphs: int = 15            # paragraph pool cap (IRCoT: 15)
    step_tokens: int = 64               # budget of one thought (IRCoT: 300 with stop at the line end)
    reader: Literal["cot", "qa", "none"] = "cot"   # final answer: CoT reader call, qa reader call, or from the thoughts
    answer_tokens: int = 128            # budget of the final reader call

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "raw_answer", "contexts", "context_docnos", "passages", "retrieved",
                                        "retrievals", "retrieval_queries", "thoughts")
    answers_questions: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.retriever, Stage):
            raise InputError("ircot needs a retriever (a stage or pipeline giving passage text)", field="retriever")
        if self.reader not in ("cot", "qa", "none"):
            raise InputError(f"reader must be 'cot', 'qa' or 'none', got {self.reader!r}", field="reader")
        if min(self.k, self.max_sentences, self.max_paragraphs, self.step_tokens) < 1:
            raise InputError("k, max_sentences, max_paragraphs and step_tokens must be positive", field="k")

    def config(self) -> dict:
        cfg = super().config()
        cfg["retriever"] = self.retriever.fingerprint()
        return cfg


    def step_prompt(self, question: str, pool: list[Passage], thoughts: list[str]) -> list[dict[str, str]]:
        reference = "".join(f"Wikipedia Title: {p.title}\n{p.text}\n\n" for p in pool)
        user = f"{reference}Question: {question}\nThought:" + (" " + " ".join(thoughts) if thoughts else "")
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = questions_of(frame) if "docno" in frame.columns else frame.drop_duplicates("qid").reset_index(drop=True)
        questions = questions.assign(qid=questions["qid"].astype(str))
        qids, asked = questions["qid"].tolist(), questions["query"].astype(str).tolist()
        traces = [Trace() for _ in qids]
        found = retrieve(self.retriever, dict(zip(qids, asked)), self.k, questions)
        pools = [add_new_titles([], found.get(q, []), self.max_paragraphs) for q in qids]
        for i, q in enumerate(qids):
            traces[i].queries.append(asked[i])
        thoughts: list[list[str]] = [[] for _ in qids]
        active = list(range(len(qids)))
        while active:
            gens = self.generate([self.step_prompt(asked[i], pools[i], thoughts[i]) for i in active],
                                 desc=f"IRCoT step {len(thoughts[active[0]]) + 1}",
                                 max_tokens=self.step_tokens, temperature=0.0, stop=["\n"])
            searches = {}
            still = []
            for i, gen in zip(active, gens):
                traces[i].paid(gen)
                traces[i].steps += 1
                parts = sentences(gen.text)
                if not parts:
                    continue
                thoughts[i].append(parts[0].strip())
                if "answer is" in parts[0] or len(thoughts[i]) >= self.max_sentences:
                    continue
                still.append(i)
                if len(pools[i]) < self.max_paragraphs:
                    searches[i] = next_query(thoughts[i], asked[i])
            more = retrieve(self.retriever, {qids[i]: q for i, q in searches.items()}, self.k, questions)
            for i, query in searches.items():
                traces[i].queries.append(query)
                pools[i] = add_new_titles(pools[i], more.get(qids[i], []), self.max_paragraphs)
            active = still
        for trace, pool in zip(traces, pools):
            trace.read(pool)
        raw, answers = self._read(asked, pools, thoughts, traces)
        return answers_frame(questions, answers, raw, traces, {"thoughts": thoughts})

    def _read(self, asked: list[str], pools: list[list[Passage]], thoughts: list[list[str]],
              traces: list[Trace]) -> tuple[list[str], list[str]]:
        if self.reader == "none":
            raw = [" ".join(t) for t in thoughts]
            return raw, [extract_answer(r) or r for r in raw]
        if self.reader == "qa":
            chats = [render_prompt(TEMPLATES["qa"] if pool else TEMPLATES["closed_book"], q,
                                   [p.as_dict() for p in pool]) for q, pool in zip(asked, pools)]
        else:
            chats = [COT_READER.format(paragraphs=paragraphs_text(pool), question=q) for q, pool in zip(asked, pools)]
        gens = self.generate(chats, desc="IRCoT reader", max_tokens=self.answer_tokens,
                             temperature=0.0)
        for trace, gen in zip(traces, gens):
            trace.paid(gen)
        raw = [g.text for g in gens]
        if self.reader == "qa":
            return raw, [post_process(r) for r in raw]
        return raw, [extract_answer(r) or post_process(r) for r in raw]
