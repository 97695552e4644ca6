"""The Python examples in the documentation run (each file's blocks in order, in one namespace), the
modules' doctests pass, and every public class says what it is."""
from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DOCS = [REPO / "docs" / "extending.md", REPO / "docs" / "results.md"]
EXPECTED = {  # what each page's examples must print
    # d16: the honey-bee passage found by TitleOverlap; Yeast: the toy LLM's answer; d27: found by the toy encoder
    "extending.md": ["d16", "RelFound(rel=2)@5", "Yeast", "d27", "BM25>>Shorter", "BM25>>FirstWords"],
    "results.md": ["leaderboard.html", "| BM25 (baseline) |", r"\toprule", "deltas-nDCG_10.svg", "tradeoff.png"],
}
PACKAGES = ("rag", "retrievers", "rerankers")
# optional dependencies (extras) a module may need at import; without them that module is left out
OPTIONAL = {"numba", "ray", "datasets", "pyterrier", "pyterrier_alpha", "pyterrier_rag", "onnxruntime", "llama_cpp",
            "bm25s", "Stemmer", "faiss", "ir_datasets"}


def _import(name: str) -> types.ModuleType | None:
    """The module, or None when it needs an optional dependency that is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in OPTIONAL:
            return None
        raise


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}.")
                  if not m.name.endswith(".__main__")]   # running it is the CLI, not a doctest
    return names


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_examples_run(path, capsys, monkeypatch, scratch_registry):   # what they register is undone
    import rag.llm
    from rag.evaluation import measures

    monkeypatch.setattr(measures, "_DECLARED", dict(measures._DECLARED))   # register_measure's declarations
    monkeypatch.setattr(rag.llm, "_LOADED", dict(rag.llm._LOADED))         # LLMs loaded from their backends
    module = types.ModuleType(f"docs_{path.stem}")          # dataclasses look their module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    blocks = BLOCK.findall(path.read_text())
    assert blocks
    for i, code in enumerate(blocks):
        exec(compile(code, f"{path.name}[block {i + 1}]", "exec"), namespace)
    out = capsys.readouterr().out
    for expected in EXPECTED[path.name]:
        assert expected in out, expected


def test_module_doctests_pass():
    finder, ran, failures = doctest.DocTestFinder(), 0, []
    for name in _modules():
        module = _import(name)
        if module is None:
            continue
        for test in finder.find(module):                   # a malformed doctest raises here
            if not any(not e.options.get(doctest.SKIP) for e in test.examples):
                continue
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            result = runner.run(test, out=lambda text: failures.append(text))
            ran += result.attempted
    assert ran >= 10 and not failures, "".join(failures)


def test_public_classes_have_docstrings():
    missing = []
    for name in _modules():
        for attr, obj in vars(_import(name) or types.ModuleType(name)).items():
            if inspect.isclass(obj) and obj.__module__ == name and not attr.startswith("_"):
                doc = (obj.__doc__ or "").strip()
                if not doc or doc.startswith(f"{attr}("):     # dataclasses' generated signature is no docstring
                    missing.append(f"{name}.{attr}")
    assert not missing, f"public classes without a docstring: {missing}"


@pytest.mark.slow  # encodes SciFact with MiniLM (minutes; cached afterwards)
def test_readme_api_example_runs_on_scifact(monkeypatch, scratch_registry):
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
