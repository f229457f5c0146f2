"""The house plan holds: packages sit on floors, and imports only point down or sideways.

Every ``import`` of ``src/rampwire`` is read (with :mod:`ast`, nothing is run). A module may
import from its own package and from packages on lower floors; an import from a higher floor,
or a cycle between modules of different packages, fails here with the modules that do it."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "rampwire"  # read, never imported

# From the ground up. A unit is a top-level module or package of rampwire; "" is the package
# root (its __init__: the public names), which sits on top with the entry point.
FLOORS: list[set[str]] = [
    {"errors", "types", "ids", "logs", "heap", "cache", "metrics", "tracing"},
    {"client"},  # the SDK: HTTP to the API, nothing of the server; the leaves only
    {"ssrf"},
    {"domain"},
    {"settings"},
    {"crypto", "storage"},
    {"dialects", "authorization"},
    {"delivery", "ingest", "simulate"},
    {"receiver"},  # the receiver kit: dialects and the leaves only, for integrators
    {"repository"},
    {"services"},
    {"api", "ui"},
    {"cli", "testing"},
    {"", "__main__"},
]
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "rampwire" or target.startswith("rampwire."):
                if node.module is None or target == "rampwire":
                    yield from (f"{target}.{alias.name}" for alias in node.names)
                else:
                    yield target
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("rampwire."))


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> dict[str, set[str]]:
    known = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for target in _imports(module, path):
            while target not in known and "." in target:  # a name imported from a module
                target = target.rpartition(".")[0]
            if target in known and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def test_every_unit_has_a_floor() -> None:
    units = {_unit(module) for module in _graph()}
    assert units - FLOOR.keys() == set(), "give each new package or module a floor in FLOORS"


def test_imports_only_point_down() -> None:
    upward = [
        f"{module} (floor {FLOOR[_unit(module)]}) imports {target} (floor {FLOOR[_unit(target)]})"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if FLOOR[_unit(target)] > FLOOR[_unit(module)]
    ]
    assert upward == []


def test_no_cycle_crosses_a_package() -> None:
    graph = _graph()
    packages = {module for module, path in _modules() if path.name == "__init__.py"}

    def package(module: str) -> str:
        return module if module in packages else module.rpartition(".")[0]

    crossing = [
        sorted(component)
        for component in _strongly_connected(graph)
        if len({package(module) for module in component}) > 1
    ]
    assert crossing == []


def test_every_package_imports_first_in_a_fresh_interpreter() -> None:
    """A cycle through a package's ``__init__`` (invisible to the graph above, which names the
    modules imported) fails only when that package is the first imported: try each first."""
    packages = sorted(
        module for module, path in _modules() if path.name == "__init__.py" and "." in module
    )
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"], stderr=subprocess.PIPE, text=True
        )
        for name in packages
    }
    failed = {}
    for name, process in running.items():
        _, err = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[name] = err.strip().splitlines()[-1:]
    assert failed == {}


def test_few_modules_at_the_top_and_none_too_long() -> None:
    top = [path.name for path in SRC.glob("*.py")]
    assert len(top) <= 10, top
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a.x": {"b.y"}, "b.y": {"a.x"}, "c.z": {"a.x"}}
    assert [sorted(c) for c in _strongly_connected(graph)] == [["a.x", "b.y"]]
