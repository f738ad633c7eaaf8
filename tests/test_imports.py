"""The package's modules import one another in one direction: no circle, however lazy.

A function-level import counts like one at the top of the file: it defers the cost, not
the dependency, and a circle that only closes at call time still ties two layers together
(each can only be read, tested and changed with the other). The graph is read from the
source with :mod:`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "clipdistill"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(module: str, path: Path, node: ast.AST, known: set[str]) -> set[str]:
    """The package modules one import statement names (``from . import x`` names ``x``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            if path.name != "__init__.py":
                base.pop()
            base = base[:len(base) - node.level + 1]
            head = ".".join(base + ([node.module] if node.module else []))
        else:
            head = node.module or ""
        names = [f"{head}.{a.name}" if f"{head}.{a.name}" in known else head for a in node.names]
    else:
        return set()
    found = set()
    for name in names:
        while name and name not in known:  # clipdistill.x.y where y is a function of x
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its file (itself excluded)."""
    mods = _modules()
    known = set(mods)
    graph = {}
    for module, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        deps = set()
        for node in ast.walk(tree):
            deps |= _targets(module, path, node, known)
        graph[module] = deps - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circle_in_the_package():
    graph = import_graph()
    found = cycles(graph)
    detail = [" <-> ".join(c) + ": " + "; ".join(
        f"{a} imports {b}" for a in c for b in sorted(graph[a] & set(c))) for c in found]
    assert not found, "import circles (function-level imports count):\n" + "\n".join(detail)


def test_the_check_sees_a_lazy_circle_and_the_layers_it_guards():
    """The graph reader finds what it is meant to find (so an empty answer means something)."""
    graph = import_graph()
    assert "clipdistill.hub" in graph["clipdistill.config"]
    assert "clipdistill.profiles" in graph["clipdistill.hub"]
    assert "clipdistill.data.errors" in graph["clipdistill.data.splits"]
    assert "clipdistill.data.downloads" in graph["clipdistill.data.sources"]
    assert "clipdistill.models.short_text" in graph["clipdistill.models.clip_model"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    lazy = ast.parse("def f():\n    from .config import Config\n")
    assert _targets("clipdistill.hub", PACKAGE / "hub.py", lazy.body[0].body[0],
                    set(graph)) == {"clipdistill.config"}
