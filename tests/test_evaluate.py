"""Evaluation through ir-measures, custom measures, and paired significance with correction."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rag.core.errors import InputError
from rag.evaluation.measures import measure_direction, measure_info
from rag.evaluation import (
    aggregate,
    correct,
    evaluate,
    measure_kind,
    paired_test,
    parse_measure,
    per_query,
    register_measure,
    significance,
)

QRELS = pd.DataFrame({"qid": ["1", "1", "2", "3"], "docno": ["d1", "d2", "d5", "d9"], "label": [1, 2, 1, 1]})
RUN = pd.DataFrame({"qid": ["1", "1", "1", "2", "2"], "docno": ["d2", "d3", "d1", "d4", "d5"],
                    "score": [3.0, 2.0, 1.0, 2.0, 1.0]})


def test_hand_computed_values():
    values = evaluate(RUN, QRELS, ["nDCG@10", "RR", "P@1"])
    ndcg_q1 = (2 + 1 / math.log2(4)) / (2 + 1 / math.log2(3))   # trec_eval gains: the label itself
    ndcg_q2 = (1 / math.log2(3)) / 1
    assert values["nDCG@10"] == pytest.approx((ndcg_q1 + ndcg_q2 + 0.0) / 3)
    assert values["RR"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert values["P@1"] == pytest.approx(1 / 3)


def test_judged_query_without_results_scores_zero_not_dropped():
    table = per_query(RUN, QRELS, ["RR"])
    assert table.set_index("qid")["value"].to_dict() == {"1": 1.0, "2": 0.5, "3": 0.0}


def test_qids_restrict_the_evaluated_queries():
    table = per_query(RUN, QRELS, ["RR"], qids=["1", "2"])
    assert sorted(table["qid"]) == ["1", "2"]


def test_measure_names_trec_style_and_errors():
    assert str(parse_measure("ndcg_cut_10")) == "nDCG@10"
    with pytest.raises(InputError, match="nDCG@10"):
        parse_measure("nDGC@10")
    with pytest.raises(InputError, match="qrels"):
        per_query(RUN, None, ["nDCG@10"])


def test_custom_measure_registration():
    class ResultCount:
        name = "Count"

        def per_query(self, results, qrels):
            return results.groupby("qid").size().astype(float)

    register_measure("Count", lambda spec: ResultCount(), kind="ranking", better="lower", digits=0)
    values = per_query(RUN, QRELS, ["Count", "RR"])
    assert aggregate(values)["Count"] == pytest.approx(2.5)
    assert (measure_kind("Count"), measure_direction("Count")) == ("ranking", "lower")
    assert measure_info("Count")["digits"] == 0


def test_a_measure_must_declare_kind_and_direction_when_registered():
    class Length:
        name = "Len"

        def per_query(self, results, qrels):
            return results.groupby("qid").size().astype(float)

    with pytest.raises(InputError, match="better='higher' or 'lower'"):
        register_measure("Len", lambda spec: Length(), kind="correctness")
    with pytest.raises(InputError, match="declare its kind"):
        register_measure("Len", lambda spec: Length(), better="lower")

    @register_measure("LenClass")
    class Declared:   # class attributes declare them too
        kind = "cost"
        better = "lower"

        def __init__(self, name):
            self.name = name

        def per_query(self, results, qrels):
            return results.groupby("qid").size().astype(float)

    assert measure_direction("LenClass") == "lower" and measure_kind("LenClass") == "cost"


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(30)
    assert paired_test(a, b, "t-test") == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert paired_test(a, b, "wilcoxon") == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert paired_test(a, a) == 1.0
    with pytest.raises(InputError):
        paired_test(a, b, "z-test")


def test_holm_and_bonferroni_by_hand():
    assert correct([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert correct([0.01, 0.04, 0.5], "bonferroni") == pytest.approx([0.03, 0.12, 1.0])
    assert correct([0.2], "none") == [0.2]


def test_significance_table():
    rng = np.random.default_rng(1)
    qids = [str(i) for i in range(40)]
    base = rng.random(40) * 0.5
    rows = []
    for system, values in {"base": base, "better": base + 0.2 + rng.normal(0, 0.01, 40),
                           "same": base + rng.normal(0, 0.01, 40)}.items():
        rows += [{"system": system, "qid": q, "measure": "nDCG@10", "value": v} for q, v in zip(qids, values)]
    table = significance(pd.DataFrame(rows), "base").set_index("system")
    assert table.loc["better", "significant"] and not table.loc["same", "significant"]
    assert table.loc["better", "delta"] == pytest.approx(0.2, abs=0.01)
    assert table.loc["better", "p_adjusted"] >= table.loc["better", "p_value"]
    with pytest.raises(InputError, match="baseline"):
        significance(pd.DataFrame(rows), "bsae")
