"""The one vocabulary of ragif's parameters and concepts, documented once (the top of docs/components.md).

One name per concept, used by every stage: ``k`` is only the retrieval depth, ``depth`` only the reranking
depth, ``passages`` the passages in a reader's prompt, ``rank_constant`` RRF's constant, ``per_run`` what each
fused run contributes, ``llm`` the LLM a stage calls, ``backend`` an LLM provider (in an ``llm:`` mapping
only), ``runtime`` the dense stage's text encoder. :data:`VOCABULARY` gives the meaning of a parameter
wherever a component has it; :func:`vocabulary` renders the shared terms with the components that use them.
"""
from __future__ import annotations

import dataclasses

# what a parameter means wherever a component has it (a field's own comment wins in the reference)
VOCABULARY = {
    "llm": "the LLM: a name (`qwen-0.5b`, the offline default), a .gguf path, or a mapping "
           "`{backend: ..., model: ..., ...}` of an LLM backend (see LLM backends below)",
    "corpus": "filled from the experiment's dataset",
    "dataset": "filled from the experiment's dataset",
    "depth": "how many of each query's top documents (by input rank) are re-scored (or judged)",
    "instruction": "how a query's instruction joins it: `ignore`, `append`, or a template with {query} and "
                   "{instruction}",
    "keep_rest": "keep the documents not put on top (below depth, or not selected) under the others, in their "
                 "old order; false (the default of every reranker and judge) drops them",
    "k": "how many documents per query a retriever returns (the retrieval depth; `stage % k` cuts to it)",
    "passages": "how many of each question's top passages go into the reader's prompt (0: closed-book)",
    "per_run": "how many of each fused pipeline's top documents per query are fused",
    "rank_constant": "RRF's constant added to each 1-based rank (60 in Cormack et al., their k)",
    "samples": "how many sampled judgements are aggregated",
    "rerank": "score only each query's given candidates (input docno) instead of the whole corpus",
    "threads": "CPU threads (not part of the cache key)",
    "device": "`auto` (CUDA when available), `cpu` or `cuda` (not part of the cache key)",
    "batch_size": "items per model call",
    "max_tokens": "most tokens the LLM may generate per call",
    "seed": "random seed",
    "name": "the measure's name",
    "model": "a model name or local folder",
    "k1": "BM25 term-frequency saturation (Lucene's default 0.9 here, as Pyserini)",
    "b": "BM25 length normalisation (0.4, as Pyserini)",
    "fields": "`flat`: title and text in one field; `multifield`: searched as separate fields",
    "with_title": "put the title before the text",
    "max_length": "most tokens per input (longer ones are truncated)",
    "prompt": "the prompt template (see the class's module for its placeholders)",
    "stop": "strings that end a generation",
    "temperature": "sampling temperature (0: greedy)",
    "pipeline": "a nested pipeline (a component spec or a list of them)",
    "pipelines": "nested pipelines, each a component spec or a list of them",
    "stage": "the stage to run (a component spec)",
    "shards": "how many query shards",
    "executor": "`auto` (Ray when installed), `local` or `ray`",
    "ray_address": "an existing Ray cluster (default: $RAY_ADDRESS or a local one)",
    "num_cpus": "CPUs per Ray task",
    "engine": "`auto`, `numba` or `numpy` scoring kernel",
    "mmap": "memory-map the cached index instead of loading it",
    "similarity": "how query and passage vectors are compared",
    "index": "FAISS index: `flat` (exact), `hnsw` or `ivfpq`",
    "index_shards": "build one FAISS index per row shard and merge their top-k (exact with flat)",
    "query_prefix": "text put before every query (model-specific, e.g. 'query: ')",
    "passage_prefix": "text put before every passage (model-specific, e.g. 'passage: ')",
    "rerank_encode": "encode only the candidates when re-ranking",
    "nlist": "IVF lists", "nprobe": "IVF lists searched", "pq_m": "PQ sub-quantisers", "hnsw_m": "HNSW links per node",
    "ef_search": "HNSW search breadth",
    "scale": "multiply p-MRR by this (100: FollowIR's reporting)",
    "qrels_changed": "the changed-instruction qrels (filled from a FollowIR-style dataset)",
}

# the terms the Vocabulary section explains, in order: parameters (with the stages that take them) and concepts
SHARED_PARAMETERS = ("k", "depth", "keep_rest", "passages", "per_run", "rank_constant", "samples", "instruction",
                     "rerank", "llm")
CONCEPTS = {
    "backend": "only in an `llm:` mapping: the LLM backend (provider): `llamacpp`, `openai`, `hf` or a registered "
               "one (registry kind `llm`)",
    "runtime": "only in the dense stage: its text encoder (registry kind `encoder`): `torch`, `torch-bf16`, "
               "`onnx-int8` or a registered one",
    "client": "not a parameter: in Python, an LLM stage's loaded LLM object (`stage.client`), built on first use "
              "from its `llm`; to change the LLM, set `llm`",
    "pipeline": "stages chained with `>>` (in a config, a list of stages); fusion stages take unnamed `pipelines`",
    "system": "a pipeline under a name in an experiment: the keys of a config's `pipelines:`, the rows of a "
              "leaderboard, what `baseline` and a reproduction's `system` name",
}


def users(parameter: str) -> list[str]:
    """The stage keys whose component takes ``parameter`` (a dataclass field)."""
    from rag.core.registry import lookup, names

    found = []
    for key in names("stage"):
        try:
            cls = lookup(key)
        except ImportError:      # an optional dependency is missing: its stages are left out of the list
            continue
        if dataclasses.is_dataclass(cls) and any(f.name == parameter and f.init for f in dataclasses.fields(cls)):
            found.append(key)
    return found


def vocabulary() -> str:
    """The Vocabulary section (Markdown): each shared parameter, its meaning and the stages that take it, then
    the concepts that are not parameters."""
    rows = ["| name | meaning | taken by |", "|---|---|---|"]
    for name in SHARED_PARAMETERS:
        taken = ", ".join(f"`{k}`" for k in users(name)) or "-"
        rows.append(f"| `{name}` | {VOCABULARY[name]} | {taken} |")
    for name, meaning in CONCEPTS.items():
        rows.append(f"| {name} | {meaning} | |")
    return "\n".join(rows)
