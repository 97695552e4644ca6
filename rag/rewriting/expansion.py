"""Query expansion by generation: HyDE and multi-query rewriting with fusion (METHODS.md §9).

* ``hyde`` (:class:`HyDE`): the LLM writes ``n`` hypothetical passages for each query (HyDE's prompts);
  ``mode="concat"`` searches with the query followed by the passages, ``mode="replace"`` with the passages
  alone (AutoRAG's ``hyde``). HyDE itself averages the *embeddings* of the query and the passages for a dense
  retriever; a text query is what every ragif retriever takes, so here the texts are joined (for BM25 that is
  the usual way; for a dense encoder it is an approximation of the mean embedding - stated, not hidden).
* ``multi-query`` (:class:`MultiQuery`): LangChain's prompt asks for alternative phrasings; each (with the
  original first, ``include_original``) is searched with ``retriever`` and the runs are fused per question by
  reciprocal rank fusion (``fusion="rrf"``, rank_constant=60, :func:`retrievers.fusion.reciprocal_rank_fusion`) or by
  LangChain's unique union in first-seen order (``fusion="union"``, the parity mode).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.core.schema import add_ranks
from rag.core.stage import Stage
from rag.llm.stage import LLMStage
from rag.rewriting import prompts
from rag.rewriting.rar import as_asked, per_question_cost, questions_table, rewrite_queries
from retrievers.fusion import reciprocal_rank_fusion

SUB_QUERY = "~mq"   # qid of the i-th rewritten query of question q: f"{q}~mq{i}"


@dataclasses.dataclass(repr=False)
class HyDE(LLMStage):
    """Rewrite each query with ``n`` generated hypothetical passages (``hyde_passages``); the question as asked
    stays in ``original_query``."""

    task: str = "web search"          # which of HyDE's prompts (web search, scifact, arguana, trec-covid, fiqa, ...)
    prompt: str | None = None         # a custom prompt with {} for the query (overrides task)
    n: int = 1                        # hypothetical passages per query (HyDE: 8 sampled at T=0.7)
    mode: Literal["concat", "replace"] = "concat"   # query + passages, or the passages alone
    max_tokens: int = 128             # HyDE: 512
    temperature: float = 0.0          # HyDE: 0.7 (needed for n > 1 to give different passages)
    seed: int = 0

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("query", "original_query", "hyde_passages")

    def __post_init__(self) -> None:
        if self.prompt is None and self.task not in prompts.HYDE_PROMPTS:
            raise InputError(f"unknown HyDE task {self.task!r}; use one of {sorted(prompts.HYDE_PROMPTS)} or give "
                             "a prompt with {} for the query", field="task")
        if self.prompt is not None and "{}" not in self.prompt:
            raise InputError("a HyDE prompt needs {} where the query goes", field="prompt")
        if not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"n must be a positive integer, got {self.n!r}", field="n")
        if self.mode not in ("concat", "replace"):
            raise InputError(f"mode must be 'concat' or 'replace', got {self.mode!r}", field="mode")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        template = self.prompt or prompts.HYDE_PROMPTS[self.task]
        questions = questions_table(frame)
        asked = as_asked(questions).tolist()
        qids = questions["qid"].astype(str).tolist()
        chats = [template.replace("{}", q) for q in asked for _ in range(self.n)]
        seeds = [self.seed + i for _ in asked for i in range(self.n)]
        gens = []
        for seed in sorted(set(seeds)):   # one batch per seed (the seed is a call parameter)
            idx = [j for j, s in enumerate(seeds) if s == seed]
            for j, g in zip(idx, self.generate([chats[j] for j in idx], desc="HyDE passages", max_tokens=self.max_tokens,
                                               temperature=self.temperature, seed=seed)):
                gens.append((j, g))
        gens = [g for _, g in sorted(gens, key=lambda item: item[0])]
        passages = [[gens[i * self.n + j].text.strip() for j in range(self.n)] for i in range(len(asked))]
        texts = [" ".join(ps) if self.mode == "replace" else " ".join([q, *ps]) for q, ps in zip(asked, passages)]
        out = rewrite_queries(frame, qids, texts)
        out["hyde_passages"] = out["qid"].astype(str).map(dict(zip(qids, passages)))
        return per_question_cost(out, [q for q in qids for _ in range(self.n)], gens)


def union_in_order(runs: list[pd.DataFrame]) -> pd.DataFrame:
    """LangChain's fusion: each question's documents in first-seen order over the runs (run order, then rank),
    duplicates dropped; ``score`` decreases with the position."""
    both = pd.concat([r.assign(_run=i) for i, r in enumerate(runs)], ignore_index=True)
    both = both.sort_values(["qid", "_run", "rank"], kind="mergesort").drop_duplicates(["qid", "docno"])
    position = both.groupby("qid", sort=False).cumcount().to_numpy(dtype="float64")
    return both[["qid", "docno"]].assign(score=-position).reset_index(drop=True)


@dataclasses.dataclass(repr=False)
class MultiQuery(LLMStage):
    """Search with LLM-written alternative phrasings of each question (and the original) and fuse the runs."""

    retriever: Stage = None           # any ragif retriever or pipeline giving a ranking
    n: int = 3                        # alternative queries kept (the prompt asks for 3)
    include_original: bool = True     # search with the question as asked too (LangChain: false)
    fusion: Literal["rrf", "union"] = "rrf"   # reciprocal rank fusion, or LangChain's first-seen union
    rank_constant: float = 60.0       # the RRF constant
    max_tokens: int = 128             # budget of the rewriting
    temperature: float = 0.0
    seed: int = 0

    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank", "rewritten_queries")

    def __post_init__(self) -> None:
        if not isinstance(self.retriever, Stage):
            raise InputError("multi-query needs a retriever (a stage or pipeline giving a ranking)", field="retriever")
        if not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"n must be a positive integer, got {self.n!r}", field="n")
        if self.fusion not in ("rrf", "union"):
            raise InputError(f"fusion must be 'rrf' or 'union', got {self.fusion!r}", field="fusion")

    def config(self) -> dict:
        cfg = super().config()
        cfg["retriever"] = self.retriever.fingerprint()
        return cfg


    def rewrite(self, asked: list[str]) -> tuple[list[list[str]], list]:
        gens = self.generate([prompts.MULTI_QUERY.format(question=q) for q in asked], desc="multi-query rewriting", max_tokens=self.max_tokens, temperature=self.temperature,
                             seed=self.seed)
        queries = []
        for q, g in zip(asked, gens):
            alternatives = prompts.parse_lines(g.text)[: self.n]
            queries.append(([q] if self.include_original else []) + alternatives or [q])
        return queries, gens

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        questions = questions_table(frame)
        asked = as_asked(questions).tolist()
        qids = questions["qid"].astype(str).tolist()
        rewritten, gens = self.rewrite(asked)
        rows = []
        for (_, row), texts in zip(questions.iterrows(), rewritten):
            for i, text in enumerate(texts):
                rows.append({**row.to_dict(), "qid": f"{row['qid']}{SUB_QUERY}{i}", "query": text})
        hits = self.retriever(pd.DataFrame(rows))
        hits = hits if "rank" in hits.columns else add_ranks(hits)
        sub = hits["qid"].astype(str).str.rsplit(SUB_QUERY, n=1)
        hits = hits.assign(qid=sub.str[0], _i=sub.str[1].astype(int))[["qid", "docno", "rank", "_i"]]
        runs = [hits[hits["_i"] == i] for i in range(int(hits["_i"].max()) + 1)] if len(hits) else []
        fused = (reciprocal_rank_fusion(runs, self.rank_constant) if self.fusion == "rrf" else union_in_order(runs)) \
            if runs else pd.DataFrame({"qid": [], "docno": [], "score": np.array([], dtype="float64")})
        base = questions.assign(rewritten_queries=rewritten)
        out = add_ranks(base.merge(fused, on="qid", how="inner"))
        return per_question_cost(out, qids, gens)
