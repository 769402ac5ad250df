"""No import cycles among the grader's modules, lazy imports inside functions included, and
every module imports on its own in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module under ``root / package``, by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules in ``known`` that module ``name`` imports anywhere in its source.

    ``import a.b`` is an edge to ``a.b``; ``from a import b`` to ``a.b`` when that is a
    module, else to ``a``. Relative imports are resolved. Importing ``a.b`` first runs the
    package ``a``'s ``__init__``: that is an edge to ``a`` too, unless ``a`` contains the
    importing module (its own package is already initialized by then).
    """
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    edges: set[str] = set()

    def add(target: str) -> None:
        # The longest prefix that is a module (``import a.b.c`` of a nonexistent c imports a.b).
        parts = target.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts:
            edges.add(".".join(parts))
        mine = name.split(".")
        for depth in range(1, len(parts)):
            package = parts[:depth]
            if mine[:depth] != package and ".".join(package) in known:
                edges.add(".".join(package))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in known else source)
    edges.discard(name)  # a module naming itself is no cycle
    return edges


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    found = modules(root, package)
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (first module repeated at the end) through each strongly connected component
    of more than one module (Tarjan's algorithm, then a path search inside the component)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    found = []
    for component in components:
        start = min(component)
        # Breadth-first from start back to start, inside the component: a shortest cycle.
        previous: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in previous:
            following = []
            for v in frontier:
                for w in sorted(graph[v] & component):
                    if w not in previous:
                        previous[w] = v
                        following.append(w)
            frontier = following
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(previous[path[-1]])
        found.append(path[::-1])
    return found


def test_the_graph_and_cycle_search_see_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")  # lazy, relative, a submodule
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.b import VALUE\n")
    (pkg / "sub" / "b.py").write_text("import os\nfrom .. import c\nVALUE = 1\n")
    (pkg / "c.py").write_text("from pkg import a\nfrom pkg.sub import VALUE\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.sub", "pkg.sub.b"},  # importing pkg.sub.b runs pkg.sub's __init__ first
        "pkg.sub": {"pkg.sub.b"},
        "pkg.sub.b": {"pkg.c"},
        "pkg.c": {"pkg.a", "pkg.sub"},
    }
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_the_batch_backends_depend_only_on_claims_and_directory() -> None:
    graph = import_graph(ROOT, "grader")
    batch = {name for name in graph if name.startswith("grader.batch")}
    assert batch == {"grader.batch", "grader.batch.claims", "grader.batch.directory", "grader.batch.local", "grader.batch.celery_backend"}
    for backend in ("grader.batch.local", "grader.batch.celery_backend"):
        assert graph[backend] & batch == {"grader.batch.claims", "grader.batch.directory"}


def test_no_import_cycles() -> None:
    found = cycles(import_graph(ROOT, "grader"))
    shown = "\n".join(" -> ".join(cycle) for cycle in found)
    assert not found, f"import cycles:\n{shown}"


def test_a_package_init_importing_back_is_a_cycle(tmp_path: Path) -> None:
    """The cycle that broke ``import grader.diagnosis``: an outside module imports a submodule of
    a package whose ``__init__`` imports the outside module back."""
    (tmp_path / "p" / "checks").mkdir(parents=True)
    (tmp_path / "p" / "__init__.py").write_text("")
    (tmp_path / "p" / "diagnosis.py").write_text("from p.checks.compare import x\n")
    (tmp_path / "p" / "checks" / "__init__.py").write_text("from p.diagnosis import diagnose\n")
    (tmp_path / "p" / "checks" / "compare.py").write_text("x = 1\n")
    (tmp_path / "p" / "checks" / "other.py").write_text("from p.checks import compare\n")
    graph = import_graph(tmp_path, "p")
    assert [set(c) for c in cycles(graph)] == [{"p.checks", "p.diagnosis"}]
    assert "p.checks" not in graph["p.checks.other"], "a sibling's own package is no edge"


#: Alembic's script directory: loaded by Alembic as scripts with its context set, never imported
SCRIPTS = "grader.db.migrations"


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(m for m in modules(ROOT, "grader") if not m.startswith(SCRIPTS)))
def test_every_module_imports_on_its_own(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
