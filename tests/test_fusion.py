"""Fusion stages (RRF, normalised score interpolation) on hand-computed runs, and built from a config."""
from __future__ import annotations

import pandas as pd
import pytest

from rag.core.errors import ConfigError
from rag.core.stage import FunctionStage
from retrievers.fusion import RRF, ScoreFusion, normalise

QUERIES = pd.DataFrame({"qid": ["q"], "query": ["x"]})


def fixed(rows, name):
    frame = pd.DataFrame(rows, columns=["docno", "score"])
    return FunctionStage(lambda f: f.merge(frame, how="cross"), name=name)


A = fixed([("a", 3.0), ("b", 1.0)], "A")
B = fixed([("b", 10.0), ("c", 6.0)], "B")


def scores(out):
    return dict(zip(out["docno"], out["score"]))


def test_rrf_hand_computed():
    out = RRF([A, B])(QUERIES)
    assert out["docno"].tolist() == ["b", "a", "c"]
    assert scores(out) == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})
    assert out["rank"].tolist() == [0, 1, 2] and out["query"].tolist() == ["x"] * 3
    weighted = RRF([A, B], weights=[2, 1], rank_constant=0)(QUERIES)
    assert scores(weighted) == pytest.approx({"a": 2 / 1, "b": 2 / 2 + 1 / 1, "c": 1 / 2})


def test_rrf_depth_cuts_each_run():
    out = RRF([A, B], per_run=1)(QUERIES)
    assert scores(out) == pytest.approx({"a": 1 / 61, "b": 1 / 61})


def test_score_fusion_minmax_and_zscore():
    minmax = ScoreFusion([A, B])(QUERIES)
    assert scores(minmax) == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.0})
    assert minmax["docno"].tolist() == ["a", "b", "c"]           # ties by docno
    weighted = ScoreFusion([A, B], weights=[0.3, 0.7])(QUERIES)
    assert scores(weighted) == pytest.approx({"a": 0.3, "b": 0.7, "c": 0.0})
    z = ScoreFusion([A, B], normalisation="zscore")(QUERIES)
    # A: a=+1, b=-1; B: b=+1, c=-1; a missing from B and c from A take that run's minimum (-1)
    assert scores(z) == pytest.approx({"a": 0.0, "b": 0.0, "c": -2.0})
    raw = ScoreFusion([A, B], normalisation="none")(QUERIES)
    assert scores(raw) == pytest.approx({"a": 3.0 + 6.0, "b": 11.0, "c": 6.0 + 1.0})


def test_normalise_constant_query():
    run = pd.DataFrame({"qid": ["q", "q"], "docno": ["a", "b"], "score": [2.0, 2.0]})
    assert normalise(run, "minmax").tolist() == [1.0, 1.0]
    assert normalise(run, "zscore").tolist() == [0.0, 0.0]


def test_bad_fusion_configs():
    with pytest.raises(ConfigError, match="at least two"):
        RRF([A])
    with pytest.raises(ConfigError, match="weights"):
        RRF([A, B], weights=[1.0])
    with pytest.raises(ConfigError, match="normalisation"):
        ScoreFusion([A, B], normalisation="softmax")


def test_rrf_from_config_on_demo():
    from rag.core.build import BuildContext, build_stage
    from rag.datasets import demo
    from rag.evaluation import evaluate

    data = demo()
    stage = build_stage({"rrf": {"pipelines": ["bm25", {"bm25": {"k1": 1.2, "b": 0.75}}], "rank_constant": 60}},
                        BuildContext(dataset=data))
    assert isinstance(stage, RRF) and len(stage.pipelines) == 2
    values = evaluate(stage(data.queries()), data.qrels(), ["nDCG@10"])
    assert 0.7 < values["nDCG@10"] <= 1.0
