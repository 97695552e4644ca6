"""Cross-encoder reranking: score each (query [+ instruction], passage) pair of a query's top-k with a
Hugging Face sequence-classification model (a hub name or a local folder, e.g. one trained by
:mod:`rerankers.training`).

>>> from rerankers.cross_encoder import CrossEncoderReranker
>>> pipeline = bm25 % 100 >> CrossEncoderReranker("models/scifact-minilm", corpus=ds.corpus)  # doctest: +SKIP
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rag.core import params
from rag.core.errors import ConfigError, InputError, MissingDependencyError
from rag import models
from rag.models import resolve_device
from rag.core.progress import progress
from rag.datasets import Corpus
from rerankers.base import Reranker, with_scores

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def model_fingerprint(model: str) -> str:
    """Identity of a cross-encoder: a local folder must be a Hugging Face model folder (config.json and
    weights); its content is fingerprinted by :func:`rag.models.model_fingerprint` (hub names by name)."""
    folder = Path(model)
    if folder.is_dir():
        weights = [w for w in WEIGHT_FILES if (folder / w).exists()]
        if not (folder / "config.json").exists() or not weights:
            raise InputError("not a Hugging Face model folder (needs config.json and model.safetensors or "
                             "pytorch_model.bin)", path=folder)
    return models.model_fingerprint(model)


def load_cross_encoder(model: str, device: str = "cpu", num_labels: int | None = None):
    """(tokenizer, model) for a sequence-classification checkpoint; ``num_labels`` forces a fresh head
    size (used when starting from a plain encoder)."""
    try:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError:  # pragma: no cover - transformers is a core dependency here
        raise MissingDependencyError("transformers", extra="neural", purpose="cross-encoder rerankers") from None
    kwargs: dict[str, Any] = {}
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
        net = AutoModelForSequenceClassification.from_pretrained(model, **kwargs)
    except OSError as exc:
        raise InputError(f"cannot load a sequence-classification model from {model!r}: {exc}",
                         field="model") from None
    net.to(device)
    net.eval()
    return tokenizer, net


def encode_pairs(tokenizer, queries: list[str], passages: list[str], max_length: int,
                 max_query_length: int) -> tuple[dict, int]:
    """Tokenize pairs so the query is cut to ``max_query_length`` tokens first and the passage takes the
    rest of ``max_length``; returns the batch and how many passages were truncated."""
    cut = [_cut_query(tokenizer, q, max_query_length) for q in queries]
    batch = tokenizer(cut, passages, truncation="only_second", max_length=max_length, padding=True,
                      return_tensors="pt", return_overflowing_tokens=False)
    full = tokenizer(cut, passages, truncation=False, padding=False, verbose=False)["input_ids"]
    truncated = sum(len(ids) > max_length for ids in full)
    return batch, truncated


def _cut_query(tokenizer, query: str, limit: int) -> str:
    ids = tokenizer(query, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    if len(ids) <= limit:
        return query
    return tokenizer.decode(ids[:limit])


def relevance_logit(logits, label_index: int | None = None):
    """One relevance score per row: the single logit, or ``logit[1] - logit[0]`` (log-odds of the
    'relevant' class) for two-class heads; ``label_index`` picks a column explicitly."""
    if label_index is not None:
        return logits[:, label_index]
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if logits.shape[-1] == 2:
        return logits[:, 1] - logits[:, 0]
    raise InputError(f"the model has {logits.shape[-1]} output labels; say which is 'relevant' with "
                     f"label_index", field="label_index")


def interpolate_first_stage(top: pd.DataFrame, model_scores: np.ndarray, weight: float,
                            normalisation: str = "zscore") -> np.ndarray:
    """``(1 - weight) * norm(model) + weight * norm(first stage)``, both normalised per query over the
    reranked documents (``top`` holds their ``qid`` and first-stage ``score``); ``weight`` 0 gives the
    model's order, 1 the first stage's."""
    from retrievers.fusion import normalise

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"interpolation weight must be in [0, 1], got {weight}")
    if "score" not in top.columns:
        raise InputError("interpolating with the first stage needs its 'score' column", field="score")
    qid = top["qid"].to_numpy()
    model = normalise(pd.DataFrame({"qid": qid, "score": model_scores}), normalisation).to_numpy()
    first = normalise(pd.DataFrame({"qid": qid, "score": top["score"].to_numpy(float)}), normalisation).to_numpy()
    return (1.0 - weight) * model + weight * first


@dataclass(repr=False)
class CrossEncoderReranker(Reranker):
    """Rerank each query's top ``depth`` documents (by input rank) with a cross-encoder.

    Passage text comes from the input's ``text`` (and ``title``) columns, else from ``corpus``. The
    query's ``instruction`` (if any) joins the query as ``instruction`` says (default: appended).
    Queries longer than ``max_query_length`` tokens are cut first; the passage is then truncated to fit
    ``max_length`` (the number of truncated passages is logged). Documents below ``depth`` are dropped, or
    kept under the reranked ones in their old order with ``keep_rest``. Output ``score`` is the model's
    relevance logit, or with ``interpolate`` w > 0 the interpolation ``(1 - w) * z(logit) + w * z(first-stage
    score)`` of per-query z-scores (:func:`interpolate_first_stage`).
    """

    model: str
    corpus: Corpus | None = None
    batch_size: int = 32
    max_length: int = 256
    max_query_length: int | None = None   # query tokens kept first (default min(64, max_length // 2))
    with_title: bool = True
    label_index: int | None = None   # which output column is 'relevant' (default: the single logit, or logit[1]-logit[0])
    interpolate: float = 0.0   # weight w of the first-stage score: (1-w)·z(model) + w·z(first stage)
    device: str = field(default="auto", metadata={"config": False})
    threads: int | None = field(default=None, metadata={"config": False})
    version: ClassVar[str] = "1"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._loaded: tuple[Any, Any] | None = None
        self._fingerprint: str | None = None
        params.integer(self.batch_size, "batch_size")
        params.number(self.interpolate, "interpolate", 0.0, 1.0)
        params.integer(self.max_length, "max_length")
        self._path = models.locate_model(self.model, "cross-encoder")   # before any work: one line if missing
        if self.query_limit() >= self.max_length - 3:
            raise ConfigError(f"max_query_length ({self.query_limit()}) must leave room for the passage within "
                              f"max_length ({self.max_length})", field="max_query_length")

    def query_limit(self) -> int:
        """Query tokens kept: ``max_query_length``, or by default min(64, max_length // 2)."""
        return self.max_query_length if self.max_query_length is not None else min(64, self.max_length // 2)

    def config(self) -> dict[str, Any]:
        out = super().config()
        out.pop("corpus", None)
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model)
        out["model_content"] = self._fingerprint
        out["corpus"] = self.corpus.fingerprint() if self.corpus is not None else None
        return out

    def loaded(self):
        if self._loaded is None:
            self._loaded = load_cross_encoder(self._path, resolve_device(self.device))
        return self._loaded

    def score_pairs(self, queries: list[str], passages: list[str]) -> np.ndarray:
        """Relevance logits of (query, passage) pairs, in batches."""
        import torch

        tokenizer, net = self.loaded()
        device = next(net.parameters()).device
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        out = np.empty(len(queries), dtype=np.float64)
        truncated = 0
        try:
            starts = range(0, len(queries), self.batch_size)
            with torch.inference_mode():
                for start in progress(starts, total=len(starts), desc="cross-encoder", unit="batch"):
                    end = start + self.batch_size
                    batch, cut = encode_pairs(tokenizer, queries[start:end], passages[start:end],
                                              self.max_length, self.query_limit())
                    truncated += cut
                    logits = net(**{k: v.to(device) for k, v in batch.items()}).logits
                    out[start:end] = relevance_logit(logits, self.label_index).float().cpu().numpy()
        finally:
            torch.set_num_threads(previous)
        if truncated:
            log.info("cross-encoder: %d of %d passages truncated to %d tokens", truncated, len(queries),
                     self.max_length)
        return out

    def rescore(self, top: pd.DataFrame) -> pd.DataFrame:
        if self.interpolate > 0 and "score" not in top.columns:  # say so before any pair is scored
            raise InputError("interpolating with the first stage needs its 'score' column", field="score")
        scores = self.score_pairs(self.query_texts(top), self.passages(top, self.corpus, self.with_title))
        if self.interpolate > 0:
            scores = interpolate_first_stage(top, scores, self.interpolate)
        return with_scores(top, scores)
