"""The SciFact curriculum experiment's interpolation of a reranked run with BM25 (hand-made runs)."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rerank_curricula.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("rerank_curricula", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bm25():
    return pd.DataFrame({"qid": ["q"] * 4, "docno": ["a", "b", "c", "d"], "score": [9.0, 8.0, 7.0, 6.0],
                         "rank": [0, 1, 2, 3]})


def test_interpolation_mixes_the_top_and_keeps_the_rest_in_bm25_order(script):
    # the cross-encoder reranked BM25's top 3 and put c first; d was below the depth
    reranked = pd.DataFrame({"qid": ["q"] * 4, "docno": ["c", "a", "b", "d"], "score": [5.0, 1.0, 0.0, -9.0]})
    pure = script.interpolated(reranked, _bm25(), depth=3, weight=0.0)
    assert list(pure.sort_values("rank")["docno"]) == ["c", "a", "b", "d"]
    first = script.interpolated(reranked, _bm25(), depth=3, weight=1.0)
    assert list(first.sort_values("rank")["docno"]) == ["a", "b", "c", "d"]
    # half and half: z(ce) = (-0.46, -0.93, 1.39), z(bm25) = (1.22, 0, -1.22) -> a 0.38, b -0.46, c 0.08
    half = script.interpolated(reranked, _bm25(), depth=3, weight=0.5)
    assert list(half.sort_values("rank")["docno"]) == ["a", "c", "b", "d"]


def test_interpolation_refuses_a_run_reranked_to_a_smaller_depth(script):
    reranked = pd.DataFrame({"qid": ["q"] * 2, "docno": ["b", "a"], "score": [2.0, 1.0]})
    with pytest.raises(ValueError, match="depth"):
        script.interpolated(reranked, _bm25(), depth=3, weight=0.5)
