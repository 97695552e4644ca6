"""Tables through the cache come back as they were computed: list columns as Python lists (nested ones too), the
same dtypes and column order, empty frames, missing values, unicode; list cells fingerprinted as before; a rank
cut-off fused into an exact retriever gives the rows the unfused pipeline gives."""
from __future__ import annotations

import dataclasses
import gc
import io
import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.table_bytes import read_table_bytes
from rag.core.hashing import _cell_text, canonical, hash_frame
from rag.core.stage import Pipeline, RankCutoff, Stage
from rag.datasets import Corpus
from retrievers.base import Retriever
from retrievers.bm25.fast import FastBM25

FRAMES = {
    "strings and numbers": pd.DataFrame({"qid": ["1", "2", "3"], "score": [1.5, np.nan, -0.0], "n": [1, 2, 3],
                                         "ok": [True, False, True]}),
    "list columns": pd.DataFrame({
        "qid": ["1", "2", "3"],
        "answers": [["Paris", "paris"], [], None],
        "floats": [[1.0, float("nan")], [2.5], []],
        "ints": [[1, 2], [3], []],
        "flags": [[True], [False, True], []],
        "unicode": [["é", "日本語"], ["\x00nul", "tab\there"], ["🙂", "\u200b"]]}),
    "ints with a missing element": pd.DataFrame({"ints": [[1, None], [2]]}),
    "nested lists and dicts": pd.DataFrame({"nested": [[[1, 2], [3]], [[]]], "dicts": [[{"a": 1}], []]}),
    "empty": pd.DataFrame({"qid": pd.Series(dtype=str), "answers": pd.Series(dtype=object),
                           "score": pd.Series(dtype="float64")}),
    "only empty lists": pd.DataFrame({"contexts": [[], []], "qid": ["a", "b"]}),
    "only a list column": pd.DataFrame({"contexts": [["x"], ["y", "z"]]}),
    "list column first, last and between": pd.DataFrame({"a": [["1"]], "q": ["x"], "b": [[2.0]], "r": [1],
                                                          "c": [[True, False]]}),
}


def _round_trip(frame: pd.DataFrame, tmp_path) -> pd.DataFrame:
    cache = Cache(tmp_path)
    cache.put_frame("k" * 64, frame)
    back = cache.get_frame("k" * 64)
    assert back is not None
    return back


@pytest.mark.parametrize("name", list(FRAMES))
def test_a_table_comes_back_as_it_went_in(name, tmp_path):
    frame = FRAMES[name]
    back = _round_trip(frame, tmp_path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=True)
    assert list(back.columns) == list(frame.columns)
    for column in frame.columns:   # list cells are lists all the way down, never NumPy arrays
        for want, got in zip(frame[column], back[column]):
            assert type(got) is type(want) or (want is None and got is None)
            if isinstance(want, list):
                assert json.dumps(got, default=repr) == json.dumps(want, default=repr)
    assert hash_frame(back) == hash_frame(frame)


def test_a_missing_list_cell_is_missing_and_tuples_and_arrays_come_back_as_lists(tmp_path):
    frame = pd.DataFrame({"a": [["x"], np.nan, None], "t": [("a", "b"), ("c",), ()],
                          "v": [np.array([1.0, 2.0]), np.array([3.0]), np.array([])]})
    back = _round_trip(frame, tmp_path)
    assert back["a"].tolist() == [["x"], None, None]     # Parquet keeps one kind of missing
    assert back["t"].tolist() == [["a", "b"], ["c"], []]
    assert back["v"].tolist() == [[1.0, 2.0], [3.0], []]


def test_list_columns_read_from_many_row_groups():
    """A file read in several chunks: each chunk's lists are cut from its own slice of the values."""
    rows = 1000
    frame = pd.DataFrame({"qid": [str(i) for i in range(rows)],
                          "answers": [[f"a{i}"] * (i % 4) if i % 7 else None for i in range(rows)],
                          "nested": [[[i], [i, i + 1]] for i in range(rows)]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, row_group_size=37)
    back = read_table_bytes(buffer.getvalue())
    pd.testing.assert_frame_equal(back, frame)


def test_the_garbage_collector_is_left_as_it_was(tmp_path):
    frame = FRAMES["list columns"]
    assert gc.isenabled()
    _round_trip(frame, tmp_path / "a")
    assert gc.isenabled()
    gc.disable()
    try:
        _round_trip(frame, tmp_path / "b")
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("cell", [["a", "b"], [], ["é", "日本", "\x00", '"quoted"', "back\\slash", "\u2028"],
                                  ["a", 1], [1.0, float("nan")], [["x"]], [{"b": 1, "a": 2}], ("a",), {"k": "v"},
                                  ["\ud800 lone surrogate"], [None], None, 3, 2.5, float("nan"), True])
def test_a_cell_is_fingerprinted_by_the_same_text_as_before(cell):
    assert _cell_text(cell) == json.dumps(canonical(cell), sort_keys=True, default=str)


@dataclasses.dataclass(repr=False)
class Answers(Stage):
    """Gives list columns (what a reader gives), counting its calls."""

    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ("contexts",)

    def __post_init__(self) -> None:
        self.calls = 0

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        out = frame.copy()
        out["contexts"] = [[f"passage {q} «{i}»" for i in range(int(q) % 3)] for q in out["qid"]]
        out["docnos"] = [[str(i)] for i in range(len(out))]
        out["latency"] = np.linspace(0, 1, len(out))
        return out


def test_a_stage_output_read_back_equals_the_computed_one(tmp_path):
    queries = pd.DataFrame({"qid": [str(i) for i in range(20)], "query": ["q"] * 20,
                            "answers": [["x", "y"]] * 20})
    stage = Answers()
    with Cache(tmp_path).activate():
        computed = stage(queries)
    with Cache(tmp_path).activate():
        cached = stage(queries)
    assert stage.calls == 1
    pd.testing.assert_frame_equal(cached, computed)
    assert hash_frame(cached) == hash_frame(computed)


# ----------------------------------------------------------------------------------------- rank cut-off fusion
def _tied_corpus() -> Corpus:
    """Many documents with equal scores, their docnos not in the order they are given."""
    words = ["river", "castle", "engine", "ocean"]
    docs = [{"docno": f"d{(i * 7919) % 97}-{i}", "title": "", "text": f"{words[i % 4]} {words[(i // 4) % 4]}"}
            for i in range(97)]
    return Corpus(docs)


def test_a_cutoff_fused_into_fast_bm25_gives_the_unfused_rows(tmp_path):
    corpus = _tied_corpus()
    queries = pd.DataFrame({"qid": ["1", "2", "3"], "query": ["river castle", "ocean", "engine river ocean"],
                            "answers": [["a"], ["b"], []]})
    bm25 = FastBM25(corpus, k=50)
    with Cache(tmp_path).activate():
        for k in (1, 3, 10, 49):
            unfused = RankCutoff(k)(bm25(queries))
            pipeline = bm25 % k
            assert pipeline.describe() == f"{bm25.describe()} >> RankCutoff(k={k})"
            pd.testing.assert_frame_equal(pipeline(queries), unfused)
        assert (bm25 % 50).stages[0].fuse_cutoff(50) is None     # nothing to cut: the retriever runs as written


def test_the_fused_retriever_computes_only_its_top_k(tmp_path):
    corpus = _tied_corpus()
    queries = pd.DataFrame({"qid": ["1"], "query": ["river"]})
    bm25 = FastBM25(corpus)
    cache = Cache(tmp_path)
    with cache.activate():
        (bm25 % 2)(queries)
    rows = [json.loads(p.read_text())["rows"] for p in (tmp_path / "frames").rglob("*.meta.json")]
    assert rows == [2]                                       # not the 1,000 (here every match) it would keep
    assert bm25.k == 1000                                    # the stage as written is unchanged


@dataclasses.dataclass(repr=False)
class RowOrderRetriever(Retriever):
    """Breaks ties by the order it holds documents (not by docno): its cut-off is not exact."""

    def retrieve(self, texts: list[str], qids: list[str], k: int) -> pd.DataFrame:
        self.asked = k
        return pd.DataFrame({"qid": [q for q in qids for _ in range(3)], "docno": ["b", "a", "c"] * len(qids),
                             "score": [1.0, 1.0, 1.0] * len(qids)})


def test_a_retriever_without_an_exact_cutoff_or_reranking_is_not_fused():
    queries = pd.DataFrame({"qid": ["1"], "query": ["x"]})
    plain = RowOrderRetriever(Corpus([{"docno": "a", "text": "x"}]))
    assert plain.fuse_cutoff(1) is None
    out = (plain % 1)(queries)
    assert plain.asked == 1000 and out["docno"].tolist() == ["a"]
    assert FastBM25(_tied_corpus(), rerank=True).fuse_cutoff(3) is None
    assert isinstance(Pipeline([plain, RankCutoff(1)]).stages[1], RankCutoff)
