"""The Python examples in the documentation run (each file's blocks in order, in one namespace)."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DOCS = [REPO / "docs" / "extending.md"]


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_examples_run(path, capsys, monkeypatch):
    module = types.ModuleType(f"docs_{path.stem}")          # dataclasses look their module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    blocks = BLOCK.findall(path.read_text())
    assert blocks
    for i, code in enumerate(blocks):
        exec(compile(code, f"{path.name}[block {i + 1}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert "d16" in out                                  # the honey-bee passage found by TitleOverlap
    assert "TitleLen@10" in out and "BM25>>Shorter" in out


@pytest.mark.slow  # encodes SciFact with MiniLM (minutes; cached afterwards)
def test_readme_api_example_runs_on_scifact(monkeypatch):
    from .conftest import shared_data

    shared_data("scifact")
    code = BLOCK.findall((REPO / "README.md").read_text())[0]
    code = code.replace('"vitamin D and bone density"', '"vitamin D"')
    module = types.ModuleType("docs_readme")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    exec(compile(code, "README.md[api]", "exec"), namespace)
    table = namespace["results"].table
    assert table.loc["BM25", "nDCG@10"] == pytest.approx(0.6789, abs=0.001)
