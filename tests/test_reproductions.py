"""Every entry of experiments/reproductions.yaml gives the score it promises (two-click reproductions)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.core.errors import ConfigError
from rag.experiment.reproduce import REPRODUCTIONS_ENV, check, data_available, load_reproductions

REPO = Path(__file__).resolve().parents[1]
FILE = REPO / "experiments" / "reproductions.yaml"
ENTRIES = load_reproductions(FILE)


PARAMS = [pytest.param(e, id=e["name"], marks=[pytest.mark.slow] if e.get("slow") else []) for e in ENTRIES]


@pytest.mark.parametrize("entry", PARAMS)
def test_reproduction(entry, monkeypatch, tmp_path):
    if not data_available(entry):
        pytest.skip(f"needs the shared data set {entry['needs']!r}")
    monkeypatch.chdir(tmp_path)   # from any directory: configs run from the project root
    outcome = check(entry, root=REPO)
    assert outcome["ok"], f"{entry['name']}: expected {entry['expected']}, got {outcome['got']:.4f}"


def test_reproduce_command_finds_the_file_from_the_environment(monkeypatch, tmp_path, capsys):
    from rag.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(REPRODUCTIONS_ENV, str(FILE))
    assert main(["reproduce", "--only", "demo-bm25"]) == 0
    out = capsys.readouterr().out
    assert "demo-bm25" in out and "True" in out


def test_reproductions_file_is_found_in_the_checkout_or_asked_for(monkeypatch, tmp_path):
    from rag.experiment.reproduce import reproductions_file

    monkeypatch.delenv(REPRODUCTIONS_ENV, raising=False)
    monkeypatch.chdir(REPO / "rag" / "core")           # inside the checkout: the nearest experiments/ above
    assert reproductions_file() == FILE
    assert reproductions_file(FILE) == FILE
    monkeypatch.chdir(tmp_path)                          # outside it, and nothing said: a clear error
    with pytest.raises(ConfigError, match="RAGIF_REPRODUCTIONS"):
        reproductions_file()


def test_an_entry_that_cannot_start_is_reported_and_the_others_still_run(monkeypatch, tmp_path, capsys):
    """A missing prerequisite of one entry (here a model folder that is not there) is that entry's row, not
    the end of the whole run; it counts as a failure."""
    from rag.experiment.reproduce import run_reproductions

    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "ok.yaml").write_text(
        "dataset: demo\nmeasures: [nDCG@10]\npipelines:\n  BM25: {bm25: {}}\n", "utf-8")
    (tmp_path / "experiments" / "needs_model.yaml").write_text(
        "dataset: demo\nmeasures: [nDCG@10]\npipelines:\n"
        "  CE: [{bm25: {}}, {cross-encoder: {model: /nonexistent/ragif-ce-model}}]\n", "utf-8")
    file = tmp_path / "experiments" / "reproductions.yaml"
    file.write_text(
        "- {name: needs-model, config: experiments/needs_model.yaml, system: CE, measure: nDCG@10, expected: 0.5,"
        " source: test}\n"
        "- {name: plain, config: experiments/ok.yaml, system: BM25, measure: nDCG@10, expected: 0.8315,"
        " tolerance: 0.0001, source: test}\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    failures = run_reproductions(file, cache=str(tmp_path / "cache"))
    out = capsys.readouterr().out
    assert [f["name"] for f in failures] == ["needs-model"]
    assert "error (" in out and "/nonexistent/ragif-ce-model" in out
    assert "plain" in out and "True" in out
