"""The house's shape, read from the source: one exception tree, no circles, no arrow up."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from analyzer_drivers.formats.errors import PowerDirectorError
from tests.import_graph import cycles, floor_of, module_graph, upward_arrows

PACKAGES = ("analyzer_drivers", "loadgen_bridge", "power_director", "reports")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
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
    """Floors: formats < drivers < LoadGen bridge < reports < director (tests/import_graph.py)."""
    graph = module_graph()
    assert cycles(graph) == []
    assert upward_arrows(graph) == []


def test_the_ground_floor_imports_nothing_of_ours() -> None:
    graph = module_graph()
    ground = {m: targets for m, targets in graph.items() if floor_of(m) == "analyzer_drivers.formats"}
    assert ground and all(floor_of(t) == "analyzer_drivers.formats" for ts in ground.values() for t in ts)
