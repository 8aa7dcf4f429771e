"""The documentation cannot drift from the code: the generated reference pages equal what
docs/gen_reference.py writes from the code now, and every ``docs/protocols.md#…`` a comment cites
is a section of that page."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CODE = ("analyzer_drivers", "loadgen_bridge", "power_director", "reports", "tests", "bench")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["configuration.md", "cli.md"])
def test_the_committed_reference_page_is_what_the_code_generates(page: str) -> None:
    written = (DOCS / page).read_text(encoding="utf-8")
    assert written == generator().PAGES[page](), f"docs/{page} is stale: run python docs/gen_reference.py"


def meter_keys() -> set[str]:
    """Every ``[analyzer]`` key the loader accepts, from the meter registry."""
    from power_director.config.meters import all_meter_keys

    return set(all_meter_keys())


def test_the_configuration_reference_names_every_key_the_loader_accepts() -> None:
    from power_director.config.sections import ServiceConfig, SessionConfig, TelemetryConfig

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = meter_keys() - {"type"}
    for section in (SessionConfig, ServiceConfig, TelemetryConfig):
        keys |= set(section.__dataclass_fields__)
    assert len(keys) > 60
    assert sorted(key for key in keys if f"| `{key}` |" not in page) == []


def test_the_cli_reference_names_every_command() -> None:
    import argparse

    from power_director.cli.parser import build_parser

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    shown = [choice.dest for choice in commands._choices_actions]  # what --help lists
    assert "run" in shown and "demo" in shown
    assert [name for name in shown if f"## `power-director {name}`" not in page] == []


def cited_anchors() -> set[tuple[str, str]]:
    """(file, section) for every citation of a docs/protocols.md section in the code and tests."""
    found = set()
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            for anchor in re.findall(r"docs/protocols\.md#([\w-]+)", path.read_text(encoding="utf-8")):
                found.add((str(path.relative_to(ROOT)), anchor))
    return found


def test_every_protocols_section_the_code_cites_exists() -> None:
    sections = set(re.findall(r"\{ #([\w-]+) \}", (DOCS / "protocols.md").read_text(encoding="utf-8")))
    cited = cited_anchors()
    assert len(cited) >= 20  # the driver, simulator and test comments that cite it
    assert not [(path, anchor) for path, anchor in cited if anchor not in sections]


def test_no_comment_cites_notes_outside_the_repository() -> None:
    stale = [str(path.relative_to(ROOT)) for package in CODE for path in (ROOT / package).rglob("*.py")
             if re.search(r"PROTOCOLS\.md|DESIGN\.md", path.read_text(encoding="utf-8"))]
    assert stale == []
