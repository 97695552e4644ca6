"""Every entry of experiments/reproductions.yaml gives the score it promises (two-click reproductions)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.experiment.reproduce import check, data_available, load_reproductions

REPO = Path(__file__).resolve().parents[1]
ENTRIES = load_reproductions(REPO / "experiments" / "reproductions.yaml")


PARAMS = [pytest.param(e, id=e["name"], marks=[pytest.mark.slow] if e.get("slow") else []) for e in ENTRIES]


@pytest.mark.parametrize("entry", PARAMS)
def test_reproduction(entry, monkeypatch, tmp_path):
    if not data_available(entry):
        pytest.skip(f"needs the shared data set {entry['needs']!r}")
    monkeypatch.chdir(tmp_path)   # from any directory: configs run from the project root
    outcome = check(entry)
    assert outcome["ok"], f"{entry['name']}: expected {entry['expected']}, got {outcome['got']:.4f}"


def test_reproduce_command_works_from_any_directory(monkeypatch, tmp_path, capsys):
    from rag.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--only", "demo-bm25"]) == 0
    out = capsys.readouterr().out
    assert "demo-bm25" in out and "True" in out
