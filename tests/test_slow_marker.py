"""The ``slow`` marker names real tests: a renamed or removed test leaves no stale entry that would
let its successor slip into the quick loop unnoticed, and the marker is registered."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.conftest import SLOW_MODULES, SLOW_TESTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TESTS = Path(__file__).resolve().parent


def functions_of(module: str) -> set[str]:
    tree = ast.parse((TESTS / f"{module}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")}


def test_every_slow_module_exists() -> None:
    assert [name for name in SLOW_MODULES if not (TESTS / name).is_file()] == []
    assert len(set(SLOW_MODULES)) == len(SLOW_MODULES)


def test_every_slow_test_exists_in_a_module_not_already_slow() -> None:
    stale = []
    for entry in sorted(SLOW_TESTS):
        module, function = entry.split("::")
        if f"{module}.py" in SLOW_MODULES or not (TESTS / f"{module}.py").is_file() \
                or function not in functions_of(module):
            stale.append(entry)
    assert stale == []


def test_the_marker_is_registered() -> None:
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    assert any(marker.startswith("slow:") for marker in markers)
