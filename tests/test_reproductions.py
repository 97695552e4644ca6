"""Every entry of experiments/reproductions.yaml gives the score it promises (two-click reproductions)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.experiment.reproduce import check, data_available, load_reproductions

REPO = Path(__file__).resolve().parents[1]
ENTRIES = load_reproductions(REPO / "experiments" / "reproductions.yaml")


PARAMS = [pytest.param(e, id=e["name"], marks=[pytest.mark.slow] if e.get("slow") else []) for e in ENTRIES]


@pytest.mark.parametrize("entry", PARAMS)
def test_reproduction(entry, monkeypatch):
    if not data_available(entry):
        pytest.skip(f"needs the shared data set {entry['needs']!r}")
    monkeypatch.chdir(REPO)
    outcome = check(entry)
    assert outcome["ok"], f"{entry['name']}: expected {entry['expected']}, got {outcome['got']:.4f}"
