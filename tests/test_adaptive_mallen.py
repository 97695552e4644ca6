"""Parity of the popularity policy's bootstrap with a direct transcription of Mallen et al.'s procedure
(METHODS.md §5.3), and a check on the real PopQA long-tail metadata."""
import math

import numpy as np
import pandas as pd
import pytest

from rag.adaptive import NeverRetrieve, PopularityThreshold, bootstrap_policies


def _notebook_procedure(frame: pd.DataFrame, n_boot: int, seed: int) -> float:
    """Per relation: 10 histogram bins of log popularity over all its rows; threshold index maximising
    training accuracy (first maximum); test accuracy weighted by test size; mean over bootstraps."""
    rng = np.random.RandomState(seed)
    n = len(frame)
    accs = []
    for _ in range(n_boot):
        mask = ["train"] * round(n * 0.75) + ["test"] * (n - round(n * 0.75))
        rng.shuffle(mask)
        mask = np.array(mask)
        per_rel, sizes = [], []
        for rel in frame["relation"].unique():
            sel = (frame["relation"] == rel).to_numpy()
            x = np.log(frame["s_pop"].to_numpy()[sel])
            c, c_ret = frame["correct_recall"].to_numpy()[sel], frame["correct_retrieve"].to_numpy()[sel]
            edges = np.histogram(x)[1]
            tr, te = mask[sel] == "train", mask[sel] == "test"
            tc = np.histogram(x[tr][c[tr]], bins=edges)[0]
            tcr = np.histogram(x[tr][c_ret[tr]], bins=edges)[0]
            scores = [tcr[:i].sum() + tc[i:].sum() for i in range(11)]
            t = int(np.argmax(scores))
            ec = np.histogram(x[te][c[te]], bins=edges)[0]
            ecr = np.histogram(x[te][c_ret[te]], bins=edges)[0]
            if te.sum():
                per_rel.append((ecr[:t].sum() + ec[t:].sum()) / te.sum())
                sizes.append(te.sum())
        accs.append(np.average(per_rel, weights=sizes))
    return float(np.mean(accs))


def test_bootstrap_matches_the_notebook_procedure():
    rng = np.random.default_rng(7)
    n = 400
    relation = rng.choice(["a", "b", "c"], n)
    pop = np.exp(rng.uniform(0, 12, n))
    frame = pd.DataFrame({"qid": [f"q{i}" for i in range(n)], "relation": relation, "s_pop": pop,
                          "correct_recall": rng.random(n) < np.log(pop) / 12,
                          "correct_retrieve": rng.random(n) < 0.45,
                          "tokens_recall": 1.0, "tokens_retrieve": 2.0})
    summary, _ = bootstrap_policies(frame, {"pop": PopularityThreshold(default="recall"), "never": NeverRetrieve()},
                                    n_boot=20, seed=633)
    ours = summary.set_index("policy").loc["pop", "accuracy"]
    assert ours == pytest.approx(_notebook_procedure(frame, 20, 633), abs=1e-12)
    assert ours > summary.set_index("policy").loc["never", "accuracy"]




@pytest.mark.shared_data
def test_popularity_policy_on_popqa_metadata():
    from rag.datasets import data_root
    from rag.datasets.named import popqa_longtail
    root = data_root()
    if root is None or not (root / "popqa-longtail" / "DisambPopQA.csv").exists():
        pytest.skip("shared data popqa-longtail is absent (set RAGIF_DATA)")
    q = popqa_longtail(root / "popqa-longtail").queries("test")
    assert len(q) == 1399 and (q["s_pop"] > 0).all()
    # constructed outcomes: the model knows subjects above each relation's median popularity
    median = q.groupby("relation")["s_pop"].transform("median")
    frame = q.assign(correct_recall=q["s_pop"] >= median, correct_retrieve=q["s_pop"] < median)
    policy = PopularityThreshold().fit(frame)
    assert set(policy.cuts) == set(q["relation"])
    decided = policy(frame)
    accuracy = np.where(decided["retrieve"], frame["correct_retrieve"], frame["correct_recall"]).mean()
    assert accuracy > 0.85   # bins are coarse (10 per relation), so not exactly 1
    big = frame["relation"].map(frame["relation"].value_counts()) >= 100
    assert 0.2 < decided.loc[big, "retrieve"].mean() < 0.8


@pytest.mark.shared_data
def test_popularity_cut_in_log10_routes_the_questions_below_it():
    """A cut of log10(71) = 1.85 retrieves exactly for the PopQA subjects with fewer than 71 monthly views."""
    from rag.datasets import data_root
    from rag.datasets.named import popqa_longtail
    root = data_root()
    if root is None or not (root / "popqa-longtail" / "DisambPopQA.csv").exists():
        pytest.skip("shared data popqa-longtail is absent (set RAGIF_DATA)")
    q = popqa_longtail(root / "popqa-longtail").queries("test")
    policy = PopularityThreshold(cuts={r: math.log10(71) for r in set(q["relation"])})
    retrieve = policy(q)["retrieve"]
    below = q["s_pop"] < 71
    assert (retrieve == below).all() and 300 < below.sum() < len(q) - 300

