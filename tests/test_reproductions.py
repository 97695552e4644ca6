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
