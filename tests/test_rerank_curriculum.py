"""Curriculum weights (METHODS.md §3) on hand-computed examples."""
import math

import numpy as np
import pandas as pd
import pytest

from rag.core.errors import ConfigError
from rerankers.training import curriculum as cl
from rerankers.training import difficulty, sample_losses, training_pool


def test_reciprank_is_one_over_one_based_rank_and_1000_when_missing():
    assert np.allclose(cl.reciprank_values([1, 2, 4, None, float("nan")]), [1, 0.5, 0.25, 0.001, 0.001])
    with pytest.raises(ValueError):
        cl.reciprank_values([0])


def test_normscore_uses_min_and_max_of_the_run():
    run = [10.0, 5.0, 0.0]
    assert np.allclose(cl.normscore_values([10, 5, 0, 12], run), [1.0, 0.5, 0.0, 1.2])
    assert np.allclose(cl.normscore_values([3, 2], [3, 3]), [1.0, 0.0])  # degenerate range: a step


def test_kdescore_is_the_cdf_of_a_scott_gaussian_kde():
    run = np.array([-1.0, 1.0])
    # Scott: factor n^(-1/5); kernel variance = sample variance (ddof=1) * factor^2
    h = math.sqrt(np.var(run, ddof=1) * 2 ** (-0.4))
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    for x in (-2.0, 0.0, 0.3, 1.5):
        expected = np.mean([phi((x - xi) / h) for xi in run])
        assert cl.kde_values([x], run)[0] == pytest.approx(expected, abs=1e-9)
    assert cl.kde_values([0.0], run)[0] == pytest.approx(0.5)


def test_pointwise_weight_is_v_for_relevant_and_one_minus_v_otherwise():
    w = cl.pointwise_weights([0.8, 0.8], [True, False])
    assert np.allclose(w, [0.8, 0.2], atol=0) and w[0] == 0.8 + 1e-8
    assert np.allclose(cl.pointwise_weights([0.8, 0.8], [True, False], anti=True), [0.2, 0.8])


def test_pairwise_weight_averages_pointwise_weights_and_takes_min_over_negatives():
    assert cl.pairwise_weights([0.9], [0.3])[0] == pytest.approx(0.8)
    # the mean of the positive's and the negative's pointwise weights
    mean = (cl.pointwise_weights([0.9], [True])[0] + cl.pointwise_weights([0.3], [False])[0]) / 2
    assert cl.pairwise_weights([0.9], [0.3])[0] == pytest.approx(mean)
    assert cl.pairwise_weights([0.9], [[0.3, 0.7]])[0] == pytest.approx(0.6)
    assert cl.pairwise_weights([0.9], [0.3], anti=True)[0] == pytest.approx(0.2)


def test_annealing_reaches_uniform_at_m():
    d = np.array([0.2, 1.0])
    assert np.allclose(cl.anneal(d, 0, 20), [0.2, 1.0])
    assert np.allclose(cl.anneal(d, 10, 20), [0.6, 1.0])
    assert np.allclose(cl.anneal(d, 15, 20), [0.8, 1.0])
    assert np.allclose(cl.anneal(d, 20, 20), [1.0, 1.0])
    assert np.allclose(cl.anneal(d, 99, 20), [1.0, 1.0])
    assert np.allclose(cl.anneal(d, 50, 0), d)  # m <= 0: never anneal


def test_batch_weighting_modes():
    losses, w = np.array([1.0, 3.0]), np.array([0.5, 1.0])
    assert cl.weighted_loss(losses, w, "batch-mean") == pytest.approx(1.5)
    assert cl.weighted_loss(losses, w, "per-sample") == pytest.approx(1.75)
    assert cl.weighted_loss(losses, w, "normalised") == pytest.approx(3.5 / 1.5)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="reciprank"):
        cl.check_heuristic("recipranks")
    with pytest.raises(ConfigError, match="batch-mean"):
        cl.check_weighting("batch_mean")


def _toy():
    queries = pd.DataFrame({"qid": ["1", "2", "3"], "query": ["a", "b", "c"]})
    qrels = pd.DataFrame({"qid": ["1", "1", "2", "3"], "docno": ["d2", "d9", "d1", "d5"], "label": [1, 2, 1, 0]})
    run = pd.DataFrame({"qid": ["1"] * 4 + ["2"] * 2 + ["3"] * 2,
                        "docno": ["d1", "d2", "d3", "d4", "d1", "d2", "d5", "d6"],
                        "score": [10.0, 8.0, 4.0, 0.0, 5.0, 5.0, 3.0, 1.0], "rank": [0, 1, 2, 3, 0, 1, 0, 1]})
    return queries, qrels, run


def test_training_pool_positives_negatives_and_ease():
    queries, qrels, run = _toy()
    pool = training_pool(queries, qrels, run, "normscore")
    # query 3 has no positive; d9 is outside the run (intersect); judged-relevant docs are never negatives
    assert sorted(pool["qid"].unique()) == ["1", "2"]
    q1 = pool[pool["qid"] == "1"].set_index("docno")
    assert list(q1.index[q1["relevant"]]) == ["d2"]
    assert sorted(q1.index[~q1["relevant"]]) == ["d1", "d3", "d4"]
    assert q1.loc["d2", "ease"] == pytest.approx(0.8) and q1.loc["d1", "ease"] == pytest.approx(1.0)
    everything = training_pool(queries, qrels, run, "reciprank", positives="all").set_index(["qid", "docno"])
    assert everything.loc[("1", "d9"), "ease"] == pytest.approx(0.001)  # rank 1000
    assert everything.loc[("1", "d9"), "label"] == 2
    assert everything.loc[("1", "d2"), "ease"] == pytest.approx(0.5)
    shallow = training_pool(queries, qrels, run, "none", negatives_depth=1)
    assert sorted(shallow.loc[~shallow["relevant"], "docno"]) == ["d1"]


def test_difficulty_of_a_batch():
    queries, qrels, run = _toy()
    pool = training_pool(queries, qrels, run, "reciprank").reset_index(drop=True)
    idx = {(q, d): i for i, (q, d) in enumerate(zip(pool["qid"], pool["docno"]))}
    pos = np.array([idx[("1", "d2")]])
    neg = np.array([[idx[("1", "d1")], idx[("1", "d4")]]])
    # v(d2)=1/2, v(d1)=1, v(d4)=1/4 -> pairs (0.5-1+1)/2=0.25 and (0.5-0.25+1)/2=0.625 -> min 0.25
    assert difficulty(pool, pos, neg, pairwise=True, anti=False)[0] == pytest.approx(0.25)
    assert np.allclose(difficulty(pool, pos, neg, pairwise=False, anti=False), [0.5, 0.0, 0.75], atol=1e-7)


def test_losses_by_hand():
    torch = pytest.importorskip("torch")
    s = torch.tensor([[0.0, 0.0], [2.0, 0.5]])
    assert torch.allclose(sample_losses(s, None, "softmax"), torch.tensor([0.5, 1 - 1 / (1 + math.exp(-1.5))]))
    assert torch.allclose(sample_losses(s, None, "hinge", margin=1.0), torch.tensor([1.0, 0.0]))
    assert torch.allclose(sample_losses(s, None, "cross-entropy"), torch.tensor([math.log(2), math.log(1 + math.exp(-1.5))]))
    flat, labels = torch.tensor([0.0, 1.0]), torch.tensor([2, 0])
    assert torch.allclose(sample_losses(flat, labels, "mse"), torch.tensor([4.0, 1.0]))
    assert torch.allclose(sample_losses(flat, labels, "bce"), torch.tensor([math.log(2), math.log(1 + math.e)]))
