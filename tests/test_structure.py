"""The house's shape, read from the source: one exception tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from analyzer_drivers.formats.errors import PowerDirectorError

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
