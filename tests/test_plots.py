"""Plots (PNG + SVG): per-query deltas of a results folder, the adaptive-retrieval tradeoff with its
Pareto frontier, metric-vs-human scatter with correlations, ROC curves, and `ragif plot` / `ragif board`."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rag.report import plots
from rag.report.board import Board
from rag.cli import main
from rag.core.errors import InputError


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.fixture()
def results_folder(tmp_path):
    """A results folder as ExperimentResults.save writes it (three systems, two measures, 40 queries)."""
    rng = np.random.default_rng(0)
    rows = []
    base = rng.uniform(0.2, 0.8, 40)
    for system, shift in (("BM25", 0.0), ("dense", 0.08), ("fused", 0.04)):
        for m, scale in (("nDCG@10", 1.0), ("R@100", 0.5)):
            noise = rng.normal(0, 0.05, 40) if shift else 0.0
            values = np.clip(base * scale + shift + noise, 0, 1)
            rows += [{"system": system, "qid": f"q{i:02d}", "measure": m, "value": v} for i, v in enumerate(values)]
    long = pd.DataFrame(rows)
    long.to_csv(tmp_path / "per_query.csv", index=False)
    table = long.pivot_table(index="system", columns="measure", values="value", sort=False)[["nDCG@10", "R@100"]]
    table.reset_index().to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "provenance.json").write_text(json.dumps({"experiment": "toy", "baseline": "BM25",
                                                         "measures": ["nDCG@10", "R@100"]}))
    return tmp_path


def test_write_plots_draws_every_measure_reproducibly(results_folder, tmp_path):
    paths = plots.write_plots(results_folder)
    names = sorted(p.name for p in paths)
    assert names == ["deltas-R_100.png", "deltas-R_100.svg", "deltas-nDCG_10.png", "deltas-nDCG_10.svg"]
    width, height = _png_size(results_folder / "deltas-nDCG_10.png")
    assert width > 600 and height > 300
    svg = (results_folder / "deltas-nDCG_10.svg").read_text()
    assert "<svg" in svg and "dense vs BM25" in svg and "fused vs BM25" in svg
    first = {p.name: p.read_bytes() for p in paths if p.suffix == ".svg"}
    again = {p.name: p.read_bytes() for p in plots.write_plots(results_folder) if p.suffix == ".svg"}
    assert first == again
    with pytest.raises(InputError, match="no per-query values for measure 'MAP'"):
        plots.write_plots(results_folder, ["MAP"])


def test_per_query_delta_counts_are_the_data(results_folder):
    plots.write_plots(results_folder, ["nDCG@10"])
    long = pd.read_csv(results_folder / "per_query.csv")
    wide = long[long.measure == "nDCG@10"].pivot(index="qid", columns="system", values="value")
    delta = wide["dense"] - wide["BM25"]
    expected = f"dense vs BM25: {(delta > 0).sum()} better, {(delta == 0).sum()} tied, {(delta < 0).sum()} worse"
    assert expected in (results_folder / "deltas-nDCG_10.svg").read_text()


def test_board_command_writes_plots_and_the_page_shows_them(results_folder, capsys):
    assert main(["board", str(results_folder)]) == 0
    assert (results_folder / "deltas-R_100.svg").exists()
    page = (results_folder / "leaderboard.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert [p.name for p in Board.load(results_folder).plot_files()] == ["deltas-nDCG_10.png", "deltas-R_100.png"]


def test_pareto_frontier():
    xs = np.array([0.0, 1.0, 0.83, 0.97, 0.32, 0.5])
    ys = np.array([0.18, 0.44, 0.42, 0.43, 0.50, 0.40])
    assert plots._pareto(xs, ys).tolist() == [0, 4]          # the oracle (0.32, 0.50) dominates the rest


def test_tradeoff_plot_from_a_summary_table(tmp_path, capsys):
    summary = pd.DataFrame({"policy": ["never retrieve", "always retrieve", "popularity", "oracle"],
                            "accuracy": [0.18, 0.44, 0.42, 0.50], "accuracy_lo": [0.09, 0.34, 0.32, 0.39],
                            "accuracy_hi": [0.26, 0.53, 0.50, 0.57], "retrieval_rate": [0.0, 1.0, 0.83, 0.32]})
    summary.to_csv(tmp_path / "summary.csv", index=False)
    assert main(["plot", "tradeoff", str(tmp_path / "summary.csv"), "-o", str(tmp_path / "popqa")]) == 0
    svg = (tmp_path / "popqa.svg").read_text()
    assert "never retrieve" in svg and "Pareto frontier" in svg
    assert _png_size(tmp_path / "popqa.png")[0] > 500
    with pytest.raises(InputError, match="needs column"):
        plots.tradeoff(summary, "cost", "accuracy", tmp_path / "x")


def test_scatter_reports_the_correlations(tmp_path):
    rng = np.random.default_rng(1)
    human = rng.integers(0, 3, 80).astype(float)
    metric = human * 0.3 + rng.normal(0, 0.2, 80)
    frame = pd.DataFrame({"human": human, "F1": metric})
    c = plots.correlations(frame.human, frame.F1)
    assert c["spearman"] == pytest.approx(stats.spearmanr(human, metric)[0])
    assert c["kendall"] == pytest.approx(stats.kendalltau(human, metric)[0]) and c["n"] == 80
    plots.scatter(frame, "human", "F1", tmp_path / "s", jitter=0.1)
    assert f"ρ={c['spearman']:.3f}" in (tmp_path / "s.svg").read_text()
    assert np.isnan(plots.correlations([1, 1, 1], [1, 2, 3])["pearson"])


def test_roc_legend_has_the_auc(tmp_path):
    frame = pd.DataFrame({"correct": [1, 1, 1, 0, 0, 0], "perfect": [0.9, 0.8, 0.7, 0.3, 0.2, 0.1],
                          "inverted": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]})
    plots.roc(frame, ["perfect", "inverted"], "correct", tmp_path / "roc")
    svg = (tmp_path / "roc.svg").read_text()
    assert "perfect (AUC 1.000)" in svg and "inverted (AUC 0.000)" in svg


def test_scaling_curve_from_the_cli(tmp_path, capsys):
    bench = pd.DataFrame({"docs": [20_000, 50_000, 200_000] * 2, "qps": [5230, 4100, 2600, 1900, 1750, 341],
                          "system": ["bm25s"] * 3 + ["pyserini"] * 3})
    bench.to_csv(tmp_path / "bench.csv", index=False)
    assert main(["plot", "curve", str(tmp_path / "bench.csv"), "-x", "docs", "-y", "qps", "--by", "system",
                 "--logx"]) == 0
    assert (tmp_path / "bench-curve.png").exists() and "pyserini" in (tmp_path / "bench-curve.svg").read_text()
    assert main(["plot", "scatter", str(tmp_path / "bench.csv")]) == 2
    assert "needs -x and -y" in capsys.readouterr().err
