"""Meta-evaluation statistics against scipy/sklearn, label encodings, instruct-qa files, CLI outputs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rag.core.errors import InputError
from rag.evaluation.meta_eval import encode_labels, meta_evaluate, read_instructqa_annotations, roc_curve


def test_statistics_match_scipy_and_hand_computed_auc():
    frame = pd.DataFrame({"m": [0.1, 0.4, 0.35, 0.8], "human": ["no", "no", "yes", "yes"]})
    row = meta_evaluate(frame, ["m"], "human", n_boot=0).iloc[0]
    assert row["roc_auc"] == pytest.approx(0.75)                     # 3 of 4 positive/negative pairs ordered
    y = np.array([0, 0, 1, 1])
    assert row["spearman"] == pytest.approx(stats.spearmanr(frame["m"], y).statistic)
    assert row["kendall"] == pytest.approx(stats.kendalltau(frame["m"], y).statistic)
    assert row["point_biserial"] == pytest.approx(stats.pointbiserialr(y, frame["m"]).statistic)
    fpr, tpr, auc = roc_curve(frame["m"].to_numpy(), y.astype(float))
    assert auc == pytest.approx(0.75) and fpr[0] == 0 and tpr[-1] == 1


def test_ties_and_bootstrap_intervals():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = y + rng.normal(0, 0.5, 200)
    noise = rng.normal(0, 1, 200)
    tied = np.round(good)                                            # many ties
    frame = pd.DataFrame({"good": good, "noise": noise, "tied": tied, "label": y})
    table = meta_evaluate(frame, ["good", "noise", "tied"], "label", n_boot=300).set_index("metric")
    from sklearn.metrics import roc_auc_score
    for m in ("good", "noise", "tied"):
        assert table.loc[m, "roc_auc"] == pytest.approx(roc_auc_score(y, frame[m]))
        assert table.loc[m, "spearman"] == pytest.approx(stats.spearmanr(frame[m], y).statistic)
        assert table.loc[m, "roc_auc_lo"] <= table.loc[m, "roc_auc"] <= table.loc[m, "roc_auc_hi"]
    assert table.loc["good", "roc_auc_lo"] > 0.8 and table.loc["noise", "roc_auc_lo"] < 0.5 < table.loc["noise", "roc_auc_hi"]


def test_label_encodings():
    codes, binary, kind = encode_labels(pd.Series(["correct", "refused", "incorrect", None]), order=[
        "incorrect", "refused", "correct"])
    assert kind == "categorical" and codes[:3].tolist() == [2, 1, 0] and np.isnan(codes[3])
    assert binary[:3].tolist() == [1, 0, 0]
    _, binary, _ = encode_labels(pd.Series(["correct", "refused"]), order=["incorrect", "refused", "correct"],
                                 positive=["correct", "refused"])
    assert binary.tolist() == [1, 1]
    codes, binary, kind = encode_labels(pd.Series([1, 2, 3, 4, 5]))
    assert kind == "graded" and binary.tolist() == [0, 0, 0, 1, 1]
    assert encode_labels(pd.Series([True, False]))[2] == "binary"
    with pytest.raises(InputError, match="order"):
        encode_labels(pd.Series(["good", "bad", "meh"]))


def test_missing_values_are_left_out_per_metric():
    frame = pd.DataFrame({"a": [0.1, 0.9, np.nan, 0.5, 0.7], "label": [0, 1, 1, None, 1]})
    row = meta_evaluate(frame, ["a"], "label", n_boot=10).iloc[0]
    assert row["n"] == 3 and row["roc_auc"] == 1.0


def _write_instructqa(root):
    folder = root / "human_eval_annotations" / "correctness" / "nq"
    folder.mkdir(parents=True)
    records = [
        {"id_": "1", "question": "capital of france", "response": "It is Paris.", "answer": ["Paris"],
         "human_eval": "yes"},
        {"id_": "2", "question": "largest planet", "response": "Saturn", "answer": ["Jupiter"], "human_eval": "no"},
        {"id_": "3", "question": "author of hamlet", "response": "William Shakespeare wrote it",
         "answer": ["Shakespeare"], "human_eval": "yes"},
        {"id_": "4", "question": "boiling point", "response": "I don't know", "answer": ["100 degrees"],
         "human_eval": "no"},
        {"id_": "5", "question": "first president", "response": "George Washington",
         "answer": ["Washington"], "human_eval": "yes"},
    ]
    (folder / "flan-t5-xxl_human_eval_results.json").write_text(json.dumps(records))
    keyed = {r["id_"]: {k: v for k, v in r.items() if k != "id_"} for r in records}
    (folder / "alpaca-7b_human_eval_results.json").write_text(json.dumps(keyed))
    return root / "human_eval_annotations"


def test_instructqa_annotation_folder(tmp_path):
    frame = read_instructqa_annotations(_write_instructqa(tmp_path))
    assert len(frame) == 10 and set(frame["model"]) == {"flan-t5-xxl", "alpaca-7b"}
    assert set(frame["dataset"]) == {"nq"} and set(frame["aspect"]) == {"correctness"}
    assert set(frame["id_"]) == {"1", "2", "3", "4", "5"}


def test_cli_computes_metrics_and_writes_table_and_plot(tmp_path, capsys):
    from rag.cli import main

    root = _write_instructqa(tmp_path)
    out = tmp_path / "out"
    rc = main(["meta-eval", str(root / "correctness" / "nq" / "flan-t5-xxl_human_eval_results.json"),
               "--compute", "EM", "F1", "Recall", "--bootstrap", "50", "-o", str(out)])
    assert rc in (0, None)
    table = pd.read_csv(out / "meta_eval.csv").set_index("metric")
    assert table.loc["Recall", "roc_auc"] == 1.0 and table.loc["Recall", "n"] == 5
    assert (out / "meta_eval.png").stat().st_size > 1000
    assert "| Recall | 5 |" in capsys.readouterr().out


def test_cli_joins_scores_and_labels(tmp_path):
    from rag.cli.meta_eval import run_cli

    pd.DataFrame({"qid": ["a", "b", "c", "d"], "F1": [0.9, 0.1, 0.8, 0.3]}).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps({"qid": q, "verdict": v}) for q, v in
                                                [("a", "correct"), ("b", "refused"), ("c", "correct"),
                                                 ("d", "incorrect")]))
    table = run_cli(str(tmp_path / "s.csv"), str(tmp_path / "l.jsonl"), label="verdict",
                    order=["incorrect", "refused", "correct"], n_boot=0)
    assert table.loc[0, "n"] == 4 and table.loc[0, "roc_auc"] == 1.0
    with pytest.raises(InputError, match="not in the given order"):
        run_cli(str(tmp_path / "s.csv"), str(tmp_path / "l.jsonl"), label="verdict", order=["x", "y"], n_boot=0)


def _reference_bootstrap(rng, metric, label, binary, n_boot, alpha=0.025):
    """Resampling one sample at a time with scipy/scikit-learn, drawing indices as meta_evaluate does."""
    from sklearn.metrics import roc_auc_score

    idx = rng.integers(0, len(metric), size=(n_boot, len(metric)))
    values = {k: [] for k in ("spearman", "kendall", "point_biserial", "roc_auc")}
    for row in idx:
        m, y, b = metric[row], label[row], binary[row]
        const_m, const_y, const_b = np.ptp(m) == 0, np.ptp(y) == 0, np.ptp(b) == 0
        values["spearman"].append(np.nan if const_m or const_y else stats.spearmanr(m, y).statistic)
        values["kendall"].append(np.nan if const_m or const_y else stats.kendalltau(m, y).statistic)
        values["point_biserial"].append(np.nan if const_m or const_b else stats.pearsonr(m, b).statistic)
        values["roc_auc"].append(np.nan if const_b else roc_auc_score(b, m))
    out = {}
    for k, v in values.items():
        v = np.array(v)[~np.isnan(v)]
        out[k] = (np.quantile(v, alpha), np.quantile(v, 1 - alpha))
    return out


@pytest.mark.parametrize("labels", ["binary", "three-class", "graded"])
def test_vectorised_bootstrap_equals_resampling_one_at_a_time(labels):
    rng = np.random.default_rng(3)
    n = 60
    if labels == "binary":
        label = rng.integers(0, 2, n).astype(float)
        binary = label
    elif labels == "three-class":
        label = rng.integers(0, 3, n).astype(float)
        binary = (label == 2).astype(float)
    else:
        label = rng.integers(1, 6, n).astype(float)
        binary = (label > np.median(label)).astype(float)
    metrics = {"cont": label + rng.normal(0, 1, n), "tied": np.round(label * 0.2 + rng.random(n), 1),
               "binary": (label + rng.normal(0, 1, n) > 1).astype(float)}
    frame = pd.DataFrame({**metrics, "label": label})
    table = meta_evaluate(frame, list(metrics), "label", n_boot=80, seed=11).set_index("metric")
    rng_ref = np.random.default_rng(11)                 # the metrics draw from one generator, in turn
    for name, metric in metrics.items():
        expected = _reference_bootstrap(rng_ref, metric, label, binary, 80)
        for st, (lo, hi) in expected.items():
            assert table.loc[name, f"{st}_lo"] == pytest.approx(lo, abs=1e-12), (name, st)
            assert table.loc[name, f"{st}_hi"] == pytest.approx(hi, abs=1e-12), (name, st)


def test_label_column_named_judge_is_found():
    from rag.evaluation.meta_eval import LABEL_COLUMNS, _LABEL_WORDS, detect_column

    frame = pd.DataFrame({"qid": ["a"], "F1": [0.5], "judge": ["yes"]})
    assert detect_column(frame, LABEL_COLUMNS, "label") == "judge"
    frame = pd.DataFrame({"qid": ["a"], "F1": [0.5], "Judge_Verdict": ["yes"]})
    assert detect_column(frame, LABEL_COLUMNS, "label", words=_LABEL_WORDS, exclude=["F1"]) == "Judge_Verdict"
    with pytest.raises(InputError, match="several could be"):
        detect_column(frame.assign(human_rating=[1]), LABEL_COLUMNS, "label", words=_LABEL_WORDS)


def test_positive_maps_a_three_class_label_to_binary_for_every_statistic():
    rng = np.random.default_rng(0)
    label = rng.choice(["incorrect", "refused", "correct"], 80)
    metric = (label == "correct") * 0.5 + rng.random(80)
    frame = pd.DataFrame({"m": metric, "label": label})
    row = meta_evaluate(frame, ["m"], "label", order=["incorrect", "refused", "correct"], positive=["correct"],
                        n_boot=0).iloc[0]
    y = (label == "correct").astype(float)
    assert row["spearman"] == pytest.approx(stats.spearmanr(metric, y).statistic)
    assert row["kendall"] == pytest.approx(stats.kendalltau(metric, y).statistic)
    ordinal = meta_evaluate(frame, ["m"], "label", order=["incorrect", "refused", "correct"], n_boot=0).iloc[0]
    codes = pd.Series(label).map({"incorrect": 0, "refused": 1, "correct": 2})
    assert ordinal["spearman"] == pytest.approx(stats.spearmanr(metric, codes).statistic)


def test_cli_header_counts_dropped_rows_and_names_intervals_only_when_bootstrapping(tmp_path, capsys):
    from rag.cli.meta_eval import run_cli

    pd.DataFrame({"qid": list("abcdef"), "F1": [0.9, 0.1, 0.8, 0.3, 0.5, 0.7]}).to_csv(tmp_path / "s.csv", index=False)
    rows = [("a", "yes"), ("b", "no"), ("c", "yes"), ("d", None), ("x", "no"), ("y", "yes"), ("z", "no")]
    (tmp_path / "l.jsonl").write_text("\n".join(json.dumps({"qid": q, "judge": v}) for q, v in rows))
    run_cli(str(tmp_path / "s.csv"), str(tmp_path / "l.jsonl"), n_boot=0)
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("3 examples (dropped: 2 without a match in l.jsonl; 3 labels without a match in s.csv; "
                             "1 without a label), label 'judge' (binary)")
    assert "interval" in header and "95%" not in header
    run_cli(str(tmp_path / "s.csv"), str(tmp_path / "l.jsonl"), n_boot=20)
    assert "20 bootstrap samples, 95% intervals" in capsys.readouterr().out.splitlines()[0]


def test_plot_legend_keeps_three_decimals_and_names_the_label_once(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rag.report.plots import plot_meta_eval

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    frame = pd.DataFrame({"F1": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6], "human_label": [0, 0, 1, 1, 0, 1, 0]})
    plot_meta_eval(frame, ["F1"], "human_label", tmp_path / "p.png")
    fig = figures[0]
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert legend == ["F1 (0.833)"]
    assert fig.axes[0].get_xlabel() == "human_label"
