"""The one registry: configs name components by key, never by import path.

Kinds of component: ``stage`` (retrievers, rerankers, judges, readers, routers, ...), ``measure``
(answer, cost and instruction measures; ranking measures come from ir-measures), ``dataset`` (named
data sets), ``llm`` (LLM backends), ``report`` (writers of a results folder's reports), ``encoder`` (text
encoders of the dense stage) and ``vector-index`` (its vector index types). Built-in
components are a fixed table (:data:`BUILTIN`: key -> ``"module:attribute"``), so looking one up
imports only its module; extensions add their own with :func:`register`, the one way to add a component
of any kind (``@register("my-reranker")``, ``@register("my-server", "llm")``, ...).

>>> from rag.core.registry import lookup, names
>>> lookup("rank-cutoff").__name__
'RankCutoff'
>>> "EM" in names("measure")
True
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar

from rag.core.errors import ConfigError, did_you_mean

T = TypeVar("T")

KINDS = ("stage", "measure", "dataset", "llm", "report", "encoder", "vector-index")
_ANSWER = "rag.evaluation.answers.measures:AnswerMeasure"
_COST = "rag.evaluation.cost"

BUILTIN: dict[str, dict[str, str]] = {
    "stage": {
        # first stage
        "bm25": "retrievers.lucene:LuceneBM25",
        "bm25-fast": "retrievers.bm25.fast:FastBM25",
        "dense": "retrievers.dense:DenseRetriever",
        "splade": "retrievers.splade:SpladeRetriever",
        "rrf": "retrievers.fusion:RRF",
        "score-fusion": "retrievers.fusion:ScoreFusion",
        "add-text": "retrievers.text:AddText",
        "candidates": "retrievers.text:CandidatePool",
        "qrels-oracle": "retrievers.text:QrelsOracle",
        "gold-among-distractors": "retrievers.text:GoldAmongDistractors",
        "instruction-pair": "retrievers.instruction_pair:InstructionPair",
        "rank-cutoff": "rag.core.stage:RankCutoff",
        "sharded": "rag.core.executor:Sharded",
        # rerankers and judges
        "cross-encoder": "rerankers.cross_encoder:CrossEncoderReranker",
        "llm-pointwise": "rerankers.llm:LLMPointwiseReranker",
        "llm-listwise": "rerankers.llm:LLMListwiseReranker",
        "utility-judge": "rag.judges.stage:UtilityJudge",
        # readers
        "reader": "rag.readers.reader:Reader",
        "short-answerer": "rag.readers.reader:ShortAnswerer",
        # adaptive retrieval: routing policies, signals and the router
        "always-retrieve": "rag.adaptive.policies:AlwaysRetrieve",
        "never-retrieve": "rag.adaptive.policies:NeverRetrieve",
        "oracle-retrieve": "rag.adaptive.policies:Oracle",
        "popularity-threshold": "rag.adaptive.policies:PopularityThreshold",
        "count-threshold": "rag.adaptive.policies:CountThreshold",
        "confidence-threshold": "rag.adaptive.policies:ConfidenceThreshold",
        "adaptive-route": "rag.adaptive.route:Route",
        "answer-confidence": "rag.adaptive.signals:AnswerConfidence",
        "sure-probability": "rag.adaptive.signals:SureProbability",
        "self-judge": "rag.adaptive.signals:SelfJudge",
        "rtuning-confidence": "rag.adaptive.signals:RTuningConfidence",
        "mention-counts": "rag.adaptive.counts:MentionCounts",
        # query rewriting, active retrieval, context refinement, judging stages (issue 32)
        "rephrase": "rag.rewriting.rar:Rephrase",
        "rar": "rag.rewriting.rar:RaRReader",
        "original-query": "rag.rewriting.rar:OriginalQuery",
        "hyde": "rag.rewriting.expansion:HyDE",
        "multi-query": "rag.rewriting.expansion:MultiQuery",
        "flare": "rag.readers.flare:FLARE",
        "ircot": "rag.readers.ircot:IRCoT",
        "compress": "rag.refiners.extractive:ExtractiveCompressor",
        "prune": "rag.refiners.selective:SelectiveContext",
        "tick": "rag.judges.method_stages:TickJudge",
        "meta-ranking": "rag.judges.method_stages:MetaRankingSignal",
    },
    "measure": {
        # answer correctness (Adlakha et al.)
        **{name: _ANSWER for name in ("EM", "F1", "Precision", "Recall", "Recall-S", "Recall-S-word", "ROUGE-1",
                                      "ROUGE-2", "ROUGE-L", "METEOR", "BERTScore-P", "BERTScore-R",
                                      "BERTScore-F1", "LLM-Eval")},
        # faithfulness to the passages in the prompt
        **{name: _ANSWER for name in ("K-Precision", "K-Recall", "K-F1", "K-Precision++", "K-Recall++", "K-F1++",
                                      "K-BERTScore-P", "K-BERTScore-R", "K-BERTScore-F1", "NLI", "LLM-Critic")},
        "AliasAcc": "rag.adaptive.measures:AliasAccuracy",
        # cost
        "RetrievalRate": f"{_COST}:RetrievalRate",
        "LLMTokens": f"{_COST}:LLMTokens",
        "PromptTokens": f"{_COST}:PromptTokens",
        "CompletionTokens": f"{_COST}:CompletionTokens",
        "LLMSeconds": f"{_COST}:LLMSeconds",
        # instruction following
        "p-MRR": "rag.evaluation.pmrr:PMRR",
        # LLM-judged measures, judge sampling, and the cost of active readers and refiners (issue 32)
        "TICK": "rag.evaluation.judged.measures:TICK",
        "MetaRanking": "rag.evaluation.judged.measures:MetaRanking",
        "HREF": "rag.evaluation.judged.measures:HREF",
        "LLM-Eval-sampled": "rag.evaluation.judged.measures:SampledLLMEval",
        "LLM-Critic-sampled": "rag.evaluation.judged.measures:SampledLLMEval",
        "RetrievalCalls": "rag.evaluation.judged.cost:RetrievalCalls",
        "LLMCalls": "rag.evaluation.judged.cost:LLMCalls",
        "ContextTokens": "rag.evaluation.judged.cost:ContextTokens",
        # open-domain QA retrieval: a gold answer string among the top k passages (DPR, Pyserini)
        **{f"Top{suffix}": "rag.evaluation.topk_accuracy:TopKAccuracy"
           for suffix in ("", "-1", "-5", "-10", "-20", "-50", "-100")},
    },
    "dataset": {},
    "llm": {
        "llamacpp": "rag.llm.backends.llamacpp:LlamaCppLLM",
        "openai": "rag.llm.backends.openai:OpenAICompatibleLLM",
        "hf": "rag.llm.backends.hf:HFCausalLM",
    },
    "report": {
        "leaderboards": "rag.report:write_report",
    },
    "encoder": {
        "torch": "retrievers.st_encoder:SentenceTransformerEncoder",
        "torch-bf16": "retrievers.st_encoder:Bfloat16Encoder",
        "onnx-int8": "retrievers.onnx_encoder:OnnxMiniLM",
    },
    "vector-index": {
        "flat": "retrievers.faiss_index:Flat",
        "hnsw": "retrievers.faiss_index:HNSW",
        "ivfpq": "retrievers.faiss_index:IVFPQ",
        "auto": "retrievers.faiss_index:Auto",
    },
}
_REGISTERED: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
# what an object registered as a kind must have (a registration without it is a programming error)
REQUIRED: dict[str, tuple[str, ...]] = {"llm": ("generate", "option_probs")}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of component {kind!r}; use one of {KINDS}")


def register(name: str, kind: str = "stage") -> Callable[[T], T]:
    """Decorator: make a class (or factory) available to configs as ``name`` of ``kind``; an LLM backend
    must have the methods of the :class:`~rag.llm.base.LLM` protocol (:data:`REQUIRED`).

    >>> @register("my-reranker")                                  # doctest: +SKIP
    ... @dataclass
    ... class MyReranker(Reranker): ...
    """
    _check_kind(kind)

    def wrap(obj: T) -> T:
        missing = [m for m in REQUIRED.get(kind, ()) if not callable(getattr(obj, m, None))]
        if missing:
            raise TypeError(f"a component of kind {kind!r} needs {missing}; {getattr(obj, '__name__', obj)!r} "
                            f"has not")
        _REGISTERED[kind][name] = obj
        return obj
    return wrap


def unregister(name: str, kind: str = "stage") -> None:
    """Remove what :func:`register` added (built-in components stay)."""
    _check_kind(kind)
    _REGISTERED[kind].pop(name, None)


def names(kind: str = "stage") -> list[str]:
    """Every key of ``kind``, sorted."""
    _check_kind(kind)
    return sorted({*BUILTIN[kind], *_REGISTERED[kind]})


def canonical(name: str, kind: str = "stage") -> str | None:
    """The registered spelling of ``name`` (matched case-insensitively), or None."""
    known = names(kind)
    if name in known:
        return name
    folded = {k.casefold(): k for k in known}
    return folded.get(name.casefold())


def lookup(name: str, kind: str = "stage", where: str | None = None, line: int | None = None) -> Any:
    """The class or factory registered as ``name`` (a clear error with a did-you-mean when unknown)."""
    _check_kind(kind)
    key = canonical(name, kind) if isinstance(name, str) else None
    if key is None:
        raise ConfigError(f"unknown {'component' if kind == 'stage' else kind} {name!r}"
                          f"{did_you_mean(str(name), names(kind))}; known: {names(kind)}",
                          path=where, line=line, field=str(name))
    if key in _REGISTERED[kind]:
        return _REGISTERED[kind][key]
    module, _, attr = BUILTIN[kind][key].partition(":")
    return getattr(importlib.import_module(module), attr)


def location(name: str, kind: str = "stage") -> str:
    """Where a built-in component is defined (``module:attribute``), or the registered object's module."""
    key = canonical(name, kind) or name
    if key in _REGISTERED[kind]:
        obj = _REGISTERED[kind][key]
        return f"{obj.__module__}:{getattr(obj, '__qualname__', obj)}"
    return BUILTIN[kind][key]
