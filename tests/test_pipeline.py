"""Stage algebra (>>, %), column contracts, and content-addressed caching of stage outputs."""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.errors import InputError, RagifError
from rag.core.stage import FunctionStage, Pipeline, RankCutoff, Stage, add_ranks


@dataclasses.dataclass(repr=False)
class CountingScorer(Stage):
    """Scores every (query, doc) pair by the number of shared characters; counts its calls."""

    docs: tuple[str, ...] = ("apple", "banana", "cherry")
    calls: int = dataclasses.field(default=0, metadata={"config": False})
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ("docno", "score", "rank")

    def transform(self, frame):
        self.calls += 1
        rows = [{"qid": q, "query": text, "docno": d, "score": float(len(set(text) & set(d)))}
                for q, text in zip(frame["qid"], frame["query"]) for d in self.docs]
        return add_ranks(pd.DataFrame(rows))


QUERIES = pd.DataFrame({"qid": ["1", "2"], "query": ["apple pie", "cherry"]})


def test_compose_and_cut():
    pipe = CountingScorer() >> RankCutoff(2)
    assert isinstance(pipe, Pipeline) and len(pipe.stages) == 2
    out = pipe(QUERIES)
    assert out.groupby("qid").size().tolist() == [2, 2]
    assert (CountingScorer() % 1)(QUERIES)["docno"].tolist() == ["apple", "cherry"]


def test_pipelines_flatten_and_functions_compose():
    pipe = (CountingScorer() >> RankCutoff(3)) >> (lambda f: f.assign(flag=True))
    assert len(pipe.stages) == 3 and isinstance(pipe.stages[-1], FunctionStage)
    assert pipe(QUERIES)["flag"].all()
    assert "CountingScorer" in pipe.describe()


def test_ranks_are_zero_based_and_ties_broken_by_docno():
    frame = pd.DataFrame({"qid": ["1"] * 3, "docno": ["b", "a", "c"], "score": [1.0, 1.0, 2.0]})
    assert add_ranks(frame)[["docno", "rank"]].values.tolist() == [["c", 0], ["a", 1], ["b", 2]]


def test_missing_input_column_is_a_clear_error():
    with pytest.raises(InputError, match=r"needs column\(s\) \['query'\]"):
        CountingScorer()(pd.DataFrame({"qid": ["1"]}))


def test_a_stage_that_breaks_its_contract_is_caught():
    @dataclasses.dataclass(repr=False)
    class Liar(Stage):
        gives: ClassVar[tuple[str, ...]] = ("score",)

        def transform(self, frame):
            return frame

    with pytest.raises(RagifError, match="declares it gives"):
        Liar()(QUERIES)


def test_rank_cutoff_rejects_nonsense():
    with pytest.raises(ValueError):
        RankCutoff(0)


def test_outputs_are_cached_by_config_and_input(tmp_path):
    cache = Cache(tmp_path)
    stage = CountingScorer()
    with cache.activate():
        first = stage(QUERIES)
        again = stage(QUERIES)
        assert stage.calls == 1
        pd.testing.assert_frame_equal(first, again)
        stage(QUERIES.iloc[:1])                          # other input -> recomputed
        assert stage.calls == 2
        other = CountingScorer(docs=("apple",))          # other config -> recomputed
        other(QUERIES)
        assert other.calls == 1
    assert cache.stats()["hits"] == 1
    stage(QUERIES)                                       # no active cache -> always computed
    assert stage.calls == 3


def test_runtime_fields_do_not_change_the_key():
    a, b = CountingScorer(), CountingScorer()
    b.calls = 99
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != CountingScorer(docs=("x",)).fingerprint()


def test_corrupted_cache_entries_are_recomputed(tmp_path):
    cache = Cache(tmp_path)
    stage = CountingScorer()
    with cache.activate():
        stage(QUERIES)
    for parquet in tmp_path.rglob("*.parquet"):
        parquet.write_bytes(parquet.read_bytes()[:20])   # truncated by a crash or a full disk
    with cache.activate():
        out = stage(QUERIES)
    assert stage.calls == 2 and len(out) == 6 and cache.stats()["corrupted"] == 1


def test_list_columns_survive_the_cache(tmp_path):
    cache = Cache(tmp_path)
    frame = pd.DataFrame({"qid": ["1"], "answers": [["a", "b"]]})
    cache.put_frame("k" * 64, frame)
    back = cache.get_frame("k" * 64)
    assert back.loc[0, "answers"] == ["a", "b"]


def test_artifact_builds_once_and_atomically(tmp_path):
    cache = Cache(tmp_path)
    built = []

    def build(folder):
        built.append(1)
        (folder / "x.txt").write_text("done")

    path = cache.artifact("index", "abc", build)
    assert (path / "x.txt").read_text() == "done"
    cache.artifact("index", "abc", build)
    assert len(built) == 1

    def crash(folder):
        (folder / "half").write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.artifact("index", "def", crash)
    assert not (tmp_path / "index" / "def").exists()
    assert not [p for p in (tmp_path / "index").iterdir() if p.name.startswith(".def")]
