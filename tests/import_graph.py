"""The project's import graph, read from the source with ``ast`` (function-level imports
included): ``python -m tests.import_graph`` draws the package graph and lists what breaks
the house's rules — a cycle between modules, or an arrow from a floor to one above it.

A floor is a folder: a package's own modules (its core) or one of its subpackages. Floors,
lowest first: the shared formats; the drivers (the ``Analyzer`` interface, one module per
meter type, the simulators); the LoadGen bridge; the reports (computations, the typed report,
MLPerf's files, rendering, building reports from directories, the results store); the director
(the fleet's wire and clock, config, observers, the session, the remote service, the Python
API, the command line). A module may import its own floor and the floors below it.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analyzer_drivers", "loadgen_bridge", "reports", "power_director")
FLOORS = (
    "analyzer_drivers.formats",
    "analyzer_drivers", "analyzer_drivers.meters", "analyzer_drivers.sim",
    "loadgen_bridge", "loadgen_bridge.remote",
    "reports", "reports.model", "reports.mlperf", "reports.render", "reports.build", "reports.store",
    "power_director.fleet", "power_director.config.meters", "power_director.config", "power_director.observe",
    "power_director.session",
    "power_director.remote", "power_director", "power_director.cli",
)


def floor_of(module: str) -> str:
    """The floor a module stands on: the longest floor name it is in. A ``__main__`` (what
    ``python -m`` runs; nothing imports it) stands on the top floor."""
    if module.endswith(".__main__"):
        return FLOORS[-1]
    return max((f for f in FLOORS if module == f or module.startswith(f + ".")), key=len)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each of our modules → the modules of ours it imports (anywhere in its body)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in files:  # ``from pkg import name``: the module pkg
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def imported_names(root: Path = ROOT) -> list[tuple[str, str, str]]:
    """Every ``from X import name`` in our modules (and the tests): (importer, X, name)."""
    found = []
    for pkg in (*PACKAGES, "tests"):
        for path in (root / pkg).rglob("*.py"):
            name = _module_name(path)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.ImportFrom):
                    source = _resolve(name, path.name == "__init__.py", node)
                    found += [(name, source, alias.name) for alias in node.names]
    return found


def _without_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too; those edges are Python's,
    not the module's, so an edge to a parent package of the importer is dropped."""
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph = _without_parents(graph)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower floor to a higher one: ``module -> target``."""
    rank = {floor: k for k, floor in enumerate(FLOORS)}
    return sorted(
        f"{m} -> {t}" for m, targets in _without_parents(graph).items() for t in targets
        if rank[floor_of(t)] > rank[floor_of(m)]
    )


def floor_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, int]]:
    """Floor → floor it imports → how many module edges."""
    edges: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m, targets in _without_parents(graph).items():
        for t in targets:
            if floor_of(m) != floor_of(t):
                edges[floor_of(m)][floor_of(t)] += 1
    return edges


def package_folders(root: Path = ROOT) -> list[str]:
    """Every folder of ours that is a package, dotted."""
    return sorted(_module_name(p) for pkg in PACKAGES for p in (root / pkg).rglob("__init__.py"))


def main() -> int:
    graph = module_graph()
    short = {f: f.replace("analyzer_drivers", "drivers").replace("power_director", "director")
             for f in FLOORS}
    for floor in reversed(FLOORS):
        count = sum(floor_of(m) == floor for m in graph)
        arrows = ", ".join(f"{short[t]} ({n})" for t, n in sorted(floor_graph(graph)[floor].items(),
                                                                   key=lambda tn: FLOORS.index(tn[0])))
        print(f"{floor.replace('.', '/') + '/':26} {count:3} modules -> {arrows or '(nothing)'}")
    problems = [f"cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    problems += [f"upward: {arrow}" for arrow in upward_arrows(graph)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
