"""The house's shape, read from the source: one exception tree, no circles, no arrow up."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import get_type_hints

from analyzer_drivers.formats.errors import PowerDirectorError
from tests.import_graph import (
    FLOORS,
    cycles,
    floor_of,
    imported_names,
    module_graph,
    package_folders,
    upward_arrows,
)

PACKAGES = ("analyzer_drivers", "loadgen_bridge", "power_director", "reports")
ROOT = Path(__file__).resolve().parents[1]
#: Shared types and their one home on the ground floor: every package imports them from there.
GROUND_FLOOR_HOMES = {
    "Window": "analyzer_drivers.formats.window",  # the LoadGen window (loadgen_bridge.detail_log reads it)
    "Sample": "analyzer_drivers.formats.sample",
    "PowerDirectorError": "analyzer_drivers.formats.errors",
}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")
                  if not m.name.endswith(".__main__")]  # runs the command line when imported
    return names


def test_every_exception_of_ours_is_a_power_director_error() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            ours = cls.__module__ == name
            if ours and issubclass(cls, BaseException) and not issubclass(cls, PowerDirectorError):
                strays.append(f"{name}.{cls_name}")
    assert strays == []


def test_no_import_cycles_and_no_arrow_up() -> None:
    """Floors are folders (tests/import_graph.py), lowest first: analyzer_drivers/formats <
    analyzer_drivers (the interface) < meters < sim < loadgen_bridge < its remote < reports (the
    computations) < model < mlperf < render < build < store < power_director/fleet < config/meters
    (the meter registry) < config < observe < session < remote < power_director (API) < cli. A
    module imports its own folder and the folders below it, never one above."""
    graph = module_graph()
    assert cycles(graph) == []
    assert upward_arrows(graph) == []


def test_the_ground_floor_imports_nothing_of_ours() -> None:
    graph = module_graph()
    ground = {m: targets for m, targets in graph.items() if floor_of(m) == "analyzer_drivers.formats"}
    assert ground and all(floor_of(t) == "analyzer_drivers.formats" for ts in ground.values() for t in ts)


def test_shared_types_are_imported_from_their_ground_floor_home() -> None:
    for name, home in GROUND_FLOOR_HOMES.items():
        assert floor_of(home) == "analyzer_drivers.formats"
        assert getattr(importlib.import_module(home), name).__module__ == home
    strays = [f"{importer}: from {source} import {name}" for importer, source, name in imported_names()
              if GROUND_FLOOR_HOMES.get(name, source) != source]
    assert strays == []
    # the detail log's reader returns the ground floor's type, not a twin of it
    assert get_type_hints(importlib.import_module("loadgen_bridge.detail_log").parse_detail_log)[
        "return"].__module__ == GROUND_FLOOR_HOMES["Window"]


def test_every_folder_is_a_floor() -> None:
    """A new subpackage takes a place in the order of floors before it holds code."""
    assert sorted(package_folders()) == sorted(FLOORS)



MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_no_module_over_400_lines() -> None:
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in _sources()}
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert over == {}


def test_no_function_over_50_lines() -> None:
    long = [f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
            for p in _sources() for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
