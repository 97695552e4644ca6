"""The reader stage: answer each question from the passages that reach it (or closed-book) with an LLM.

>>> reader = Reader(llm="qwen-0.5b", template="qa", k=5)                  # doctest: +SKIP
>>> answers = (bm25 % 5 >> reader)(queries)                               # doctest: +SKIP

Input: a results table (``qid, query, docno, score/rank`` and ``text``/``title``, or a ``corpus`` to
fetch them from), or a queries table for ``template="closed_book"``. Output: one row per question
with the query columns, ``answer`` (post-processed), ``raw_answer``, ``contexts`` (texts of the
passages that were in the prompt: the evidence for faithfulness metrics), ``context_titles``,
``context_docnos``, ``prompt``, ``retrieved``, and LLM cost ``prompt_tokens``, ``completion_tokens``,
``latency_s``, ``cached``.

Defaults follow instruct-qa's README (k=8, max 500 new tokens, post-processing on) except decoding:
greedy (temperature 0) instead of the paper's nucleus sampling (T=0.95, top-p 0.95), which the LLM
layer does not expose; set ``temperature`` to sample.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Literal

import pandas as pd

from rag.datasets import Corpus
from rag.core.errors import InputError
from rag.core.stage import Stage
from rag.readers.prompts import TEMPLATES, Template, post_process, render_prompt

log = logging.getLogger(__name__)

TemplateName = Literal["qa", "qa_delimited", "qa_unanswerable", "llama_chat_qa", "llama_chat_qa_unanswerable", "conv_qa",
                       "conv_qa_unanswerable", "llama_chat_conv_qa", "llama_chat_conv_qa_unanswerable",
                       "closed_book"]
_PASSAGE_COLUMNS = ("docno", "score", "rank", "text", "title")


@dataclasses.dataclass(repr=False)
class Reader(Stage):
    """Answer questions with an LLM from the top ``k`` passages of each query."""

    llm: str | dict = "qwen-0.5b"           # rag.llm.load_llm spec (model identity is in the cache key)
    template: str = "qa"                    # a name in rag.readers.reader_prompts.TEMPLATES, or a custom template string
    k: int = 8
    max_tokens: int = 500
    temperature: float = 0.0
    seed: int = 0
    post_process: bool = True
    batch_size: int = 16
    corpus: Corpus | None = dataclasses.field(default=None, metadata={"config": False})
    client: Any = dataclasses.field(default=None, metadata={"config": False})  # a loaded LLM object

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("answer", "raw_answer", "contexts", "context_titles", "context_docnos",
                                        "prompt", "retrieved", "prompt_tokens", "completion_tokens",
                                        "latency_s", "cached")
    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 0:
            raise ValueError(f"k must be a non-negative integer, got {self.k!r}")
        if self.template not in TEMPLATES and "{query}" not in str(self.template):
            raise ValueError(f"unknown template {self.template!r}: use one of {sorted(TEMPLATES)} or a custom "
                             "string containing {query}")

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["llm"] = getattr(self.client, "name", None) or self.llm
        if self.corpus is not None:
            cfg["corpus"] = self.corpus.fingerprint()
        return cfg

    def describe(self) -> str:
        llm = getattr(self.client, "name", None) or self.llm
        return f"Reader(llm={llm!r}, template={self.template!r}, k={self.k})"

    # ------------------------------------------------------------------ helpers
    def _llm(self) -> Any:
        if self.client is None:
            from rag.llm import load_llm
            self.client = load_llm(self.llm)
        return self.client

    def _template(self) -> Template:
        return TEMPLATES.get(self.template) or Template(self.template)

    def _passages(self, frame: pd.DataFrame) -> dict[str, list[dict[str, str]]]:
        if "docno" not in frame.columns or self.k == 0:
            return {}
        ranked = frame
        if "rank" in ranked.columns:
            ranked = ranked.sort_values(["qid", "rank"], kind="mergesort")
        elif "score" in ranked.columns:
            ranked = ranked.sort_values(["qid", "score"], ascending=[True, False], kind="mergesort")
        top = ranked.groupby("qid", sort=False).head(self.k)
        if "text" not in top.columns:
            if self.corpus is None:
                raise InputError("the reader needs passage text: add a 'text' column (add-text stage) or give it "
                                 "a corpus", field="text")
            docs = self.corpus.documents(top["docno"].astype(str).unique().tolist()).set_index("docno")
            ids = top["docno"].astype(str)
            top = top.assign(text=docs["text"].reindex(ids).to_numpy(), title=docs["title"].reindex(ids).to_numpy())
        out: dict[str, list[dict[str, str]]] = {}
        titles = top["title"] if "title" in top.columns else pd.Series([""] * len(top), index=top.index)
        for qid, docno, text, title in zip(top["qid"].astype(str), top["docno"].astype(str), top["text"], titles):
            out.setdefault(qid, []).append({"docno": docno, "text": "" if pd.isna(text) else str(text),
                                            "title": "" if pd.isna(title) else str(title)})
        return out

    # ------------------------------------------------------------------ the stage
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        template = self._template()
        if template.needs_passages and "docno" not in frame.columns and self.k > 0:
            raise InputError(f"template {self.template!r} answers from passages but the input has no 'docno' "
                             "column: put a retriever before the reader, or use template='closed_book'",
                             field="docno")
        passages = self._passages(frame)
        query_cols = [c for c in frame.columns if c not in _PASSAGE_COLUMNS]
        questions = frame.drop_duplicates("qid")[query_cols].reset_index(drop=True)
        questions["qid"] = questions["qid"].astype(str)
        prompts, contexts = [], []
        for row in questions.itertuples(index=False):
            row = row._asdict()
            ps = passages.get(row["qid"], [])
            contexts.append(ps)
            prompts.append(render_prompt(template, str(row["query"]), ps, row.get("history"),
                                         row.get("instruction")))
        llm = self._llm()
        gens = []
        for start in range(0, len(prompts), self.batch_size):
            gens.extend(llm.generate(prompts[start:start + self.batch_size], max_tokens=self.max_tokens,
                                     temperature=self.temperature, seed=self.seed))
            log.info("reader: %d/%d questions", len(gens), len(prompts))
        raw = [str(getattr(g, "text", "") or "") for g in gens]
        out = questions.copy()
        out["answer"] = [post_process(r) if self.post_process else r.strip() for r in raw]
        out["raw_answer"] = raw
        out["contexts"] = [[p["text"] for p in ps] for ps in contexts]
        out["context_titles"] = [[p["title"] for p in ps] for ps in contexts]
        out["context_docnos"] = [[p["docno"] for p in ps] for ps in contexts]
        out["prompt"] = prompts
        out["retrieved"] = [bool(ps) for ps in contexts]
        out["prompt_tokens"] = [int(getattr(g, "prompt_tokens", 0) or 0) for g in gens]
        out["completion_tokens"] = [int(getattr(g, "completion_tokens", 0) or 0) for g in gens]
        out["latency_s"] = [float(getattr(g, "latency_s", 0.0) or 0.0) for g in gens]
        out["cached"] = [bool(getattr(g, "cached", False)) for g in gens]
        return out
