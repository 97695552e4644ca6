"""Threshold searches and routing policies on constructed cases where the right answer is known."""
import math

import numpy as np
import pandas as pd
import pytest

from rag.adaptive import (
    AlwaysRetrieve,
    ConfidenceThreshold,
    CountThreshold,
    NeverRetrieve,
    Oracle,
    PopularityThreshold,
    abstention_curve,
    average_precision,
    bootstrap_policies,
    policy_outcome,
    split_masks,
)
from rag.adaptive.search import (
    best_bin_threshold,
    best_cut,
    best_two_cuts,
    histogram_edges,
)
from rag.core.errors import InputError


def test_best_cut_finds_the_boundary_between_known_regimes():
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    recall_ok = score >= 0.5            # the model knows the confident half
    retrieve_ok = score < 0.5           # retrieval helps the rest
    cut, acc = best_cut(score, recall_ok, retrieve_ok)
    assert cut == pytest.approx(0.5) and acc == 1.0


def test_best_cut_extremes_and_ties_prefer_fewer_retrievals():
    score = np.array([0.1, 0.5, 0.9])
    assert best_cut(score, [True] * 3, [False] * 3)[0] == -math.inf       # never retrieve
    assert best_cut(score, [False] * 3, [True] * 3)[0] == math.inf        # always retrieve
    assert best_cut(score, [True] * 3, [True] * 3)[0] == -math.inf        # tie: cheapest
    # tied scores move together: two questions at 0.5 with opposite needs cannot be split
    cut, acc = best_cut(np.array([0.5, 0.5, 0.9]), [False, True, True], [True, False, False])
    assert acc == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        best_cut(np.array([np.nan]), [True], [True])


def test_mallen_bin_search_known_threshold():
    x = np.linspace(0, 10, 21)          # edges 0, 1, ..., 10
    edges = histogram_edges(x)
    assert np.allclose(edges, np.arange(11))
    t, acc = best_bin_threshold(x, x >= 6, x < 6, edges)
    assert (t, acc) == (6, 1.0)
    assert best_bin_threshold(x, np.ones(21, bool), np.zeros(21, bool), edges)[0] == 0
    assert best_bin_threshold(x, np.zeros(21, bool), np.ones(21, bool), edges)[0] == 10
    assert best_bin_threshold(np.array([]), np.array([], bool), np.array([], bool), edges)[0] == 0


def _popularity_frame():
    rows = []
    for relation, boundary in (("director", 6), ("sport", 3)):
        for i, x in enumerate(np.linspace(0, 10, 41)):
            rows.append({"qid": f"{relation}{i}", "relation": relation, "s_pop": 10.0 ** x,
                         "correct_recall": x >= boundary, "correct_retrieve": x < boundary,
                         "tokens_recall": 10.0, "tokens_retrieve": 100.0})
    return pd.DataFrame(rows)


def test_popularity_threshold_per_relation():
    frame = _popularity_frame()
    policy = PopularityThreshold().fit(frame)
    assert policy.cuts["director"] == pytest.approx(6.0)
    assert policy.cuts["sport"] == pytest.approx(3.0)
    out = policy(frame)
    assert (out["retrieve"] == ~frame["correct_recall"]).all()
    assert np.allclose(out["route_score"], np.log10(frame["s_pop"]))
    # unseen relation: the pooled cut, or a fixed choice
    unseen = pd.DataFrame({"qid": ["q"], "relation": ["genre"], "s_pop": [1.0]})
    assert PopularityThreshold(default="retrieve").fit(frame)(unseen)["retrieve"].item()
    assert not PopularityThreshold(default="recall").fit(frame)(unseen)["retrieve"].item()


def test_popularity_cuts_are_in_log10_of_monthly_views():
    """The documented unit: a cut of 2.0 retrieves for subjects with fewer than 100 monthly page views (under the
    natural log the same cut meant 7.4 views, and every question below was answered closed-book)."""
    frame = pd.DataFrame({"qid": ["a", "b", "c", "d"], "relation": "occupation", "s_pop": [5.0, 55.0, 99.0, 150.0]})
    out = PopularityThreshold(cuts={"occupation": 2.0})(frame)
    assert out["retrieve"].tolist() == [True, True, True, False]
    assert out["route_score"].tolist() == pytest.approx(np.log10(frame["s_pop"]).tolist())
    # only a global cut: the relation column is not needed
    pooled = PopularityThreshold(global_cut=math.log10(71))
    assert "relation" not in pooled.needed_columns()
    assert pooled(frame.drop(columns="relation"))["retrieve"].tolist() == [True, True, False, False]
    assert "relation" in PopularityThreshold(cuts={"occupation": 2.0}).needed_columns()


def test_popularity_bins_come_from_the_reference_rows():
    frame = _popularity_frame()
    train = frame[(frame.relation == "director") & (np.log10(frame.s_pop) <= 7.01)]
    ref_edges = PopularityThreshold().fit(train, reference=frame).cuts["director"]
    own_edges = PopularityThreshold(bins_from="train").fit(train, reference=frame).cuts["director"]
    assert ref_edges == pytest.approx(6.0)          # edges 0..10 from all rows
    # edges 0, 0.7, ..., 7 from the training rows: bin [5.6, 6.3) mixes 5.75 (retrieve) with 6.0, 6.25
    assert own_edges == pytest.approx(5.6)


def test_popularity_rejects_bad_input():
    frame = _popularity_frame()
    bad = frame.assign(s_pop=frame.s_pop.where(frame.index != 3, 0.0))
    with pytest.raises(InputError, match="positive"):
        PopularityThreshold().fit(bad)
    with pytest.raises(InputError, match="relation"):
        PopularityThreshold().fit(frame.drop(columns="relation"))


def test_count_threshold_two_regimes():
    rng = np.random.default_rng(0)
    sr = rng.integers(0, 200, 300).astype(float)
    s = rng.integers(0, 1000, 300).astype(float)
    # the model recalls frequent subject-relation pairs, and popular subjects even for rare pairs
    knows = (sr >= 50) | (s >= 600)
    frame = pd.DataFrame({"qid": [str(i) for i in range(300)], "sr_count": sr, "s_count": s,
                          "correct_recall": knows, "correct_retrieve": ~knows})
    policy = CountThreshold(max_candidates=1000).fit(frame)
    assert policy(frame)["retrieve"].tolist() == (~knows).tolist()
    unknown = ~knows    # the thresholds must separate these from the rest
    assert sr[unknown].max() < policy.tau_sr <= 50
    assert s[unknown].max() < policy.tau_s <= s[knows & (sr < policy.tau_sr)].min()
    tau_sr, tau_s, acc = best_two_cuts(sr, s, knows, ~knows, use_subject=False)
    assert tau_s == math.inf and acc < 1.0
    only_sr = CountThreshold(use_subject=False).fit(frame)
    assert only_sr.tau_s == math.inf and only_sr(frame.drop(columns="s_count"))["retrieve"].dtype == bool


def test_confidence_threshold_and_missing_signal():
    frame = pd.DataFrame({"qid": list("abcdef"), "p_sure": [0.9, 0.8, 0.7, 0.3, 0.2, np.nan],
                          "correct_recall": [True, True, True, False, False, False],
                          "correct_retrieve": [False, False, False, True, True, True]})
    policy = ConfidenceThreshold(signal="p_sure").fit(frame)
    assert policy.threshold == pytest.approx(0.5)
    assert policy(frame)["retrieve"].tolist() == [False, False, False, True, True, True]
    assert ConfidenceThreshold(signal="p_sure", threshold=0.5, missing="recall")(frame)["retrieve"].iloc[-1] == False  # noqa: E712


def test_fixed_policies_and_oracle():
    frame = pd.DataFrame({"qid": list("abcd"), "correct_recall": [True, False, True, False],
                          "correct_retrieve": [True, True, False, False],
                          "tokens_recall": [10.0] * 4, "tokens_retrieve": [100.0] * 4})
    assert policy_outcome(AlwaysRetrieve(), frame) == {"accuracy": 0.5, "retrieval_rate": 1.0, "llm_tokens": 100.0,
                                                        "n": 4}
    assert policy_outcome(NeverRetrieve(), frame)["accuracy"] == 0.5
    oracle = policy_outcome(Oracle(), frame)
    assert oracle["accuracy"] == 0.75 and oracle["retrieval_rate"] == 0.25 and oracle["llm_tokens"] == 32.5
    cost = ConfidenceThreshold(signal="s", threshold=0.5, cost_column="tokens_s").llm_tokens(
        frame.assign(tokens_s=5.0), np.array([True, False, False, False]))
    assert cost.tolist() == [115.0, 15.0, 15.0, 15.0]


def test_split_masks_reproducible_and_sized():
    a, b = split_masks(1399, 3, seed=633), split_masks(1399, 3, seed=633)
    assert all((x == y).all() for x, y in zip(a, b))
    assert all(m.sum() == 1049 for m in a)
    assert not (a[0] == a[1]).all()


def test_bootstrap_recovers_known_popularity_rule():
    frame = _popularity_frame()
    summary, per_boot = bootstrap_policies(frame, {"never": NeverRetrieve(), "always": AlwaysRetrieve(),
                                                   "popularity": PopularityThreshold(), "oracle": Oracle()},
                                           n_boot=5)
    table = summary.set_index("policy")
    assert table.loc["popularity", "accuracy"] == 1.0 and table.loc["oracle", "accuracy"] == 1.0
    assert table.loc["never", "accuracy"] < 1.0 and table.loc["always", "retrieval_rate"] == 1.0
    assert len(per_boot) == 20 and (table["n_test"] == 20).all()


def test_average_precision_matches_definition_and_sklearn():
    score = np.array([0.9, 0.8, 0.8, 0.3, 0.1, np.nan])
    label = np.array([True, False, True, False, True, False])
    ap = average_precision(score, label)
    # thresholds: 0.9 -> P=1,R=1/3 ; 0.8 -> P=2/3,R=2/3 ; 0.3 -> P=2/4 ; 0.1 -> P=3/5,R=1
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 5)
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    s, y = rng.random(50).round(1), rng.random(50) < 0.4
    assert average_precision(s, y) == pytest.approx(sklearn.average_precision_score(y, s))
    assert math.isnan(average_precision(s, np.zeros(50, bool)))


def test_abstention_curve_is_selective_accuracy():
    curve = abstention_curve(np.array([0.9, 0.8, 0.2, 0.1]), np.array([True, True, False, True]), points=5)
    assert curve["accuracy"].tolist() == [1.0, 1.0, pytest.approx(2 / 3), 0.75]
    assert curve["abstained"].iloc[-1] == 0.0
