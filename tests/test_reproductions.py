"""Every entry of experiments/reproductions.yaml gives the score it promises (two-click reproductions)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.reproduce import check, data_available, load_reproductions

REPO = Path(__file__).resolve().parents[1]
ENTRIES = load_reproductions(REPO / "experiments" / "reproductions.yaml")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_reproduction(entry, monkeypatch):
    if not data_available(entry):
        pytest.skip(f"needs the shared data set {entry['needs']!r}")
    monkeypatch.chdir(REPO)
    outcome = check(entry)
    assert outcome["ok"], f"{entry['name']}: expected {entry['expected']}, got {outcome['got']:.4f}"
