"""Experiments end to end on the built-in demo set: results, significance, leaderboards, provenance,
and re-runs served from the cache."""
from __future__ import annotations

import json

import pytest

from rag.core.cache import Cache
from rag.datasets import demo
from rag.experiment import Experiment
from rag.report.board import Board
from retrievers.lucene import LuceneBM25


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    data = demo()
    cache = Cache(tmp_path_factory.mktemp("cache"))
    experiment = Experiment({"BM25": LuceneBM25(data.corpus), "BM25-top3": LuceneBM25(data.corpus) % 3,
                             "BM25-b0": LuceneBM25(data.corpus, b=0.0)},
                            data, ["nDCG@10", "RR@10", "R@10"], baseline="BM25", cache=cache, name="demo-test")
    first = experiment.run()
    return experiment, first, cache


def test_results_table(results):
    _, res, _ = results
    assert list(res.table.index) == ["BM25", "BM25-top3", "BM25-b0"]
    assert list(res.table.columns) == ["nDCG@10", "RR@10", "R@10"]
    assert 0.5 < res.table.loc["BM25", "nDCG@10"] <= 1.0
    assert res.table.loc["BM25-top3", "R@10"] <= res.table.loc["BM25", "R@10"]
    assert res.per_query["qid"].nunique() == 14
    assert set(res.significance["system"]) == {"BM25-top3", "BM25-b0"}


def test_rerun_is_served_from_the_cache_with_identical_results(results):
    experiment, first, cache = results
    before, misses_before = cache.stats()["hits"], cache.stats()["misses"]
    again = experiment.run()
    assert cache.stats()["hits"] - before == 3 + 3 + 1    # stage outputs, evaluations, significance
    assert cache.stats()["misses"] == misses_before
    assert again.table.equals(first.table)
    assert again.provenance == first.provenance


def test_saved_folder_and_boards(results, tmp_path):
    _, res, _ = results
    folder = res.save(tmp_path / "out")
    for name in ("results.csv", "per_query.csv", "significance.csv", "provenance.json", "leaderboard.md",
                 "leaderboard.html", "leaderboard.tex", "runs/BM25.trec", "deltas-nDCG_10.png",
                 "deltas-nDCG_10.svg"):
        assert (folder / name).exists(), name
    provenance = json.loads((folder / "provenance.json").read_text())
    for key in ("config_hash", "versions", "git", "date", "seed"):
        assert key in json.dumps(provenance), key
    board = Board.load(folder)
    md = board.markdown()
    assert "| BM25 (baseline) |" in md and "config hash" in md
    html = (folder / "leaderboard.html").read_text()
    assert "<table" in html
    assert 'src="http' not in html and "<link" not in html  # standalone: opens offline, nothing fetched


def test_saving_twice_gives_identical_files(results, tmp_path):
    _, res, _ = results
    a = res.save(tmp_path / "a")
    b = res.save(tmp_path / "b")
    for name in ("results.csv", "leaderboard.md", "provenance.json", "deltas-nDCG_10.svg", "runs/BM25-top3.trec"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_the_questions_chosen_are_part_of_the_experiment_identity(results):
    """Two experiments that differ only in their question subset get different config hashes (and dates)."""
    experiment, _, cache = results
    data = experiment.dataset
    subset = Experiment(experiment.pipelines, data, ["nDCG@10"], baseline="BM25", cache=cache,
                        queries=data.queries().head(5))
    same = Experiment(experiment.pipelines, data, ["nDCG@10"], baseline="BM25", cache=cache)
    assert subset.fingerprint() != same.fingerprint()
    assert same.fingerprint() == Experiment(experiment.pipelines, data, ["nDCG@10"], baseline="BM25").fingerprint()
