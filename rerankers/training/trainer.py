"""The training loop of a cross-encoder reranker (METHODS.md §3): iterations of batches, the curriculum's
weights annealed by iteration, checkpoints after each iteration (a re-run resumes), validation and early
stopping, and the best model saved as a Hugging Face folder that the cross-encoder stage loads."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rag.core.cache import atomic_write_text
from rag.core.errors import ConfigError, InputError
from rag.core.progress import bar
from rerankers.cross_encoder import (
    encode_pairs,
    load_cross_encoder,
    relevance_logit,
    resolve_device,
)
from rerankers.training import curriculum as cl
from rerankers.training.config import TRAINING_FILE, TrainingConfig, start_model_path
from rerankers.training.losses import difficulty, sample_losses
from rerankers.training.checkpoint import load_checkpoint, save_checkpoint
from rerankers.training.pool import PairSampler, training_pool

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What training a reranker produced: the model folder, per-iteration history, best score, cost."""

    output: Path
    history: pd.DataFrame
    best_iteration: int | None
    best_valid: float | None
    seconds: float
    peak_memory_mb: float | None


class RerankerTrainer:
    """Runs one training configuration with data given as tables (the Python API)."""

    def __init__(self, config: TrainingConfig, queries: pd.DataFrame, qrels: pd.DataFrame, run: pd.DataFrame,
                 texts: dict[str, str], valid_queries: pd.DataFrame | None = None,
                 valid_qrels: pd.DataFrame | None = None, valid_run: pd.DataFrame | None = None):
        self.config = config
        self.pool = training_pool(queries, qrels, run, config.curriculum, config.positives, config.negatives_depth)
        self.query_text = dict(zip(queries["qid"].astype(str), _query_texts(queries)))
        self.texts = texts
        missing = set(self.pool["docno"]) - set(texts)
        if missing:
            raise InputError(f"{len(missing)} training document(s) have no text, e.g. {sorted(missing)[:3]}",
                             field="docno")
        self.valid = None
        if valid_queries is not None and valid_run is not None and valid_qrels is not None:
            top = valid_run[valid_run["rank"] < config.valid_depth]
            self.valid = (valid_queries, valid_qrels, top)
        self.output = Path(config.output)
        self.checkpoint = self.output / "checkpoint"

    # ------------------------------------------------------------------ model
    def _setup(self):
        import torch

        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        torch.manual_seed(self.config.seed)
        device = resolve_device(self.config.device)
        tokenizer, net = load_cross_encoder(start_model_path(self.config.model), device, num_labels=1)
        head = [p for n, p in net.named_parameters() if n.startswith(("classifier", "pooler", "bert.pooler"))]
        head_ids = {id(p) for p in head}
        encoder = [p for p in net.parameters() if id(p) not in head_ids]
        optimizer = torch.optim.Adam([{"params": encoder, "lr": self.config.encoder_lr},
                                      {"params": head, "lr": self.config.head_lr}])
        return tokenizer, net, optimizer, device

    def _scores(self, tokenizer, net, device, qids: list[str], docnos: list[str]):
        queries = [self.query_text[q] for q in qids]
        passages = [self.texts[d] for d in docnos]
        batch, _ = encode_pairs(tokenizer, queries, passages, self.config.max_length, self.config.max_query_length)
        return relevance_logit(net(**{k: v.to(device) for k, v in batch.items()}).logits)

    def train_batch(self, tokenizer, net, optimizer, device, sampler: PairSampler, iteration: int) -> float:
        """One optimiser step on ``batch_size`` samples, accumulated over micro-batches of
        ``micro_batch_size`` (the curriculum's batch-mean weight is taken per micro-batch, as in OpenNIR,
        whose BERT config accumulates micro-batches of 2 into batches of 16). Returns the mean loss."""
        c = self.config
        pos, neg = sampler.sample(c.batch_size)
        micro = c.micro_batch_size or c.batch_size
        net.train()
        optimizer.zero_grad()
        total = 0.0
        for start in range(0, c.batch_size, micro):
            part = slice(start, start + micro)
            loss, mean = self._micro_loss(tokenizer, net, device, pos[part], neg[part], iteration)
            (loss * (len(pos[part]) / c.batch_size)).backward()
            total += mean * len(pos[part])
        optimizer.step()
        return total / c.batch_size

    def _micro_loss(self, tokenizer, net, device, pos: np.ndarray, neg: np.ndarray, iteration: int):
        import torch

        c = self.config
        rows = np.concatenate([pos[:, None], neg], axis=1)  # (n, 1 + negatives), positive first
        qids = self.pool["qid"].to_numpy()[rows.reshape(-1)].tolist()
        docnos = self.pool["docno"].to_numpy()[rows.reshape(-1)].tolist()
        scores = self._scores(tokenizer, net, device, qids, docnos).view(rows.shape)
        if c.pairwise:
            losses = sample_losses(scores, None, c.loss, c.hinge_margin)
        else:  # positives first, then the negatives row by row (the order of `difficulty`)
            flat = torch.cat([scores[:, 0], scores[:, 1:].reshape(-1)])
            labels = self.pool["label"].to_numpy()[np.concatenate([pos, neg.reshape(-1)])]
            losses = sample_losses(flat, torch.as_tensor(labels, device=device), c.loss)
        if c.curriculum == "none":
            loss = losses.mean()
        else:
            d = difficulty(self.pool, pos, neg, c.pairwise, c.anti)
            w = torch.as_tensor(cl.anneal(d, iteration, c.end_of_curriculum), dtype=losses.dtype, device=device)
            loss = cl.weighted_loss(losses, w, c.weighting)
        return loss, float(losses.mean().detach())

    def validate(self, tokenizer, net, device) -> float:
        import torch

        from rag.evaluation.scoring import evaluate

        queries, qrels, top = self.valid
        texts = dict(zip(queries["qid"].astype(str), _query_texts(queries)))
        self.query_text.update(texts)
        net.eval()
        out = np.empty(len(top))
        with torch.inference_mode():
            for start in range(0, len(top), 64):
                part = top.iloc[start:start + 64]
                out[start:start + 64] = self._scores(tokenizer, net, device, part["qid"].tolist(),
                                                     part["docno"].tolist()).float().cpu().numpy()
        reranked = top.assign(score=out)
        return evaluate(reranked, qrels, [self.config.valid_measure], qids=queries["qid"])[self.config.valid_measure]

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict | None:
        record = self.output / TRAINING_FILE
        if not record.exists():
            return None
        state = json.loads(record.read_text("utf-8"))
        if state.get("key") != self.config.key():
            raise ConfigError(f"{self.output} holds a model trained with another configuration; choose another "
                              f"output folder or delete it", path=self.output, field="output")
        return state

    def _save_checkpoint(self, net, optimizer, sampler: PairSampler, state: dict) -> None:
        tmp = self.output / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_checkpoint(tmp, net, optimizer, sampler.state())
        shutil.rmtree(self.checkpoint, ignore_errors=True)
        tmp.rename(self.checkpoint)
        atomic_write_text(self.output / TRAINING_FILE, json.dumps(state, indent=2) + "\n")

    def _save_model(self, tokenizer, net) -> None:
        net.save_pretrained(self.output)
        tokenizer.save_pretrained(self.output)

    # ------------------------------------------------------------------ loop
    def train(self) -> TrainingResult:
        import torch

        c = self.config
        self.output.mkdir(parents=True, exist_ok=True)
        state = self._state()
        if state and state.get("done"):
            log.info("%s: training already finished", self.output)
            return _result(self.output, state)
        tokenizer, net, optimizer, device = self._setup()
        sampler = PairSampler(self.pool, c.num_negatives, c.seed)
        if state and self.checkpoint.exists():
            sampler.restore(load_checkpoint(self.checkpoint, net, optimizer, device))
            log.info("%s: resuming at iteration %d", self.output, state["iteration"])
        else:
            state = {"key": c.key(), "config": c.identity(), "iteration": 0, "history": [], "best_valid": None,
                     "best_iteration": None, "stale": 0, "seconds": 0.0, "done": False,
                     "pool": {"queries": int(self.pool["qid"].nunique()),
                              "positives": int(self.pool["relevant"].sum()),
                              "negatives": int((~self.pool["relevant"]).sum())}}
        peak = _peak_rss_mb()
        with bar(total=c.iterations, desc="training", unit="iteration", initial=state["iteration"]) as advance:
            while state["iteration"] < c.iterations and not state["done"]:
                i = state["iteration"]
                t0 = time.perf_counter()
                losses = [self.train_batch(tokenizer, net, optimizer, device, sampler, i)
                          for _ in range(c.batches_per_iteration)]
                row: dict[str, Any] = {"iteration": i, "loss": float(np.mean(losses)),
                                       "curriculum_progress": _progress(c, i)}
                if self.valid is not None and (i + 1) % c.validate_every == 0:
                    value = self.validate(tokenizer, net, device)
                    row["valid"] = value
                    if state["best_valid"] is None or value > state["best_valid"]:
                        state.update(best_valid=value, best_iteration=i, stale=0)
                        self._save_model(tokenizer, net)
                    else:
                        state["stale"] += 1
                row["seconds"] = time.perf_counter() - t0
                state["seconds"] += row["seconds"]
                state["history"].append(row)
                state["iteration"] = i + 1
                log.info("iteration %d: %s", i, row)
                if state["stale"] >= c.patience:
                    state["done"] = True
                peak = max(peak or 0.0, _peak_rss_mb() or 0.0)
                state["peak_memory_mb"] = peak
                self._save_checkpoint(net, optimizer, sampler, state)
                advance(1)
        if self.valid is None:
            self._save_model(tokenizer, net)
        state["done"] = True
        atomic_write_text(self.output / TRAINING_FILE, json.dumps(state, indent=2) + "\n")
        shutil.rmtree(self.checkpoint, ignore_errors=True)
        return _result(self.output, state)


def _progress(c: TrainingConfig, i: int) -> float:
    """How far annealing has gone (0: weights are D, 1: uniform)."""
    if c.curriculum == "none":
        return 1.0
    return 0.0 if c.end_of_curriculum <= 0 else min(i / c.end_of_curriculum, 1.0)


def _peak_rss_mb() -> float | None:
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return None


def _result(output: Path, state: dict) -> TrainingResult:
    return TrainingResult(output, pd.DataFrame(state["history"]), state.get("best_iteration"),
                          state.get("best_valid"), float(state.get("seconds", 0.0)), state.get("peak_memory_mb"))


def _query_texts(queries: pd.DataFrame) -> list[str]:
    from retrievers.instructions import query_texts
    return query_texts(queries, "append")

