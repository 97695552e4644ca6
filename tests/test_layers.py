"""The code is laid out along the data flow and imports only point down (imports inside functions count).

Layers, lowest first:  core < datasets, llm < retrievers, rerankers, judges, readers, adaptive <
evaluation < experiment (and reranker training, a workflow that evaluates) < report < cli < interop.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "retrievers", "rerankers")

# module prefix -> layer (longest prefix wins)
LAYERS: dict[str, int] = {
    "rag": 0, "rag.core": 0,
    "rag.models": 1, "rag.datasets": 1, "rag.llm": 1,
    "retrievers": 2, "rerankers": 2, "rag.judges": 2, "rag.readers": 2, "rag.adaptive": 2,
    "rag.rewriting": 2, "rag.refiners": 2,
    "rag.evaluation": 3,
    "rag.experiment": 4, "rerankers.training": 4,
    "rag.report": 5,
    "rag.cli": 6,
    "rag.interop": 7,
}
# imports that are allowed to point up, each with its reason
ALLOWED_UP: dict[tuple[str, str], str] = {
    ("rag", "*"): "rag/__init__.py is the lazy public API: it names modules of every layer",
}
MAX_LINES = 400


@functools.lru_cache(maxsize=1)
def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _imports(module: str, path: Path, type_only: bool = False) -> set[str]:
    """What ``module`` imports at run time (imports inside functions included), or with ``type_only`` also
    what it imports under ``if TYPE_CHECKING:`` (a dependency all the same)."""
    tree = ast.parse(path.read_text("utf-8"))
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in (ast.walk(tree) if type_only else _runtime_nodes(tree)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)   # `from pkg import submodule`
    modules = _modules()
    return {name for name in found if name.split(".")[0] in PACKAGES and name in modules}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (type-only imports never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _graph(type_only: bool = False) -> dict[str, set[str]]:
    return {m: _imports(m, p, type_only) - {m} for m, p in _modules().items()}


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every import loop found by a depth-first walk, as ``a -> b -> a``."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def folder(module: str) -> str:
    """The folder (package of the layout, a key of :data:`LAYERS`) a module belongs to."""
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def test_imports_only_point_down():
    wrong = []
    for module, targets in _graph().items():
        for target in targets:
            if layer(target) > layer(module) and (module, "*") not in ALLOWED_UP \
                    and (module, target) not in ALLOWED_UP and not module.startswith(target + "."):
                wrong.append(f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of the layout
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items() if m != "rag"}
    cycles = [c for c in _cycles(graph) if not c.startswith("rag ->") and " rag ->" not in c]
    assert not cycles, "\n".join(cycles)


# type-level loops (one side imports only under TYPE_CHECKING) still to be untied, each with its reason; an
# entry that no longer loops fails the test below, so the list only shrinks
KNOWN_TYPE_CYCLES: dict[frozenset[str], str] = {}


def test_no_import_cycles_counting_type_only_imports():
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in _graph(type_only=True).items()
             if m != "rag"}
    found = {frozenset(c.split(" -> ")): c for c in _cycles(graph)}
    unknown = [c for members, c in found.items() if members not in KNOWN_TYPE_CYCLES]
    assert not unknown, "\n".join(unknown)
    stale = [" <-> ".join(sorted(k)) for k in KNOWN_TYPE_CYCLES if k not in found and k <= set(_modules())]
    assert not stale, f"no longer a loop, remove it from KNOWN_TYPE_CYCLES: {stale}"


def test_no_loops_between_folders():
    """Folders (rerankers, rag.judges, ...) depend on each other one way only, even within a layer: a judge
    may build on the reranker base, so the rerankers must not import from the judges."""
    edges: dict[str, set[str]] = {}
    for module, targets in _graph(type_only=True).items():
        if module == "rag":
            continue
        for target in targets:
            a, b = folder(module), folder(target)
            if a != b and not a.startswith(b + ".") and not b.startswith(a + "."):   # a sub-folder and its parent
                edges.setdefault(a, set()).add(b)
    cycles = [c for c in _cycles(edges) if not c.startswith("rag ->") and " rag ->" not in c]
    assert not cycles, "\n".join(cycles)


def test_no_module_over_the_limit():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_rag_has_no_loose_modules_beyond_the_api():
    loose = sorted(p.name for p in (REPO / "rag").glob("*.py") if p.name not in ("__init__.py", "models.py"))
    assert not loose, f"modules directly under rag/ belong in a sub-package: {loose}"


@pytest.mark.parametrize("module", ["rag.core.stage", "rag.core.registry", "rag.core.cache"])
def test_core_imports_nothing_above_it(module):
    assert all(layer(t) == 0 for t in _graph()[module])
