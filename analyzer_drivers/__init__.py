"""Power meters behind one async interface, and simulators that speak their protocols.

Names load on first use, so ``import analyzer_drivers.formats`` (the ground floor) loads no driver.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Analyzer", "AnalyzerError", "AnalyzerInfo", "PtdAnalyzer", "Ranges", "Sample"]
_HOMES = {
    "Analyzer": "analyzer_drivers.base", "AnalyzerError": "analyzer_drivers.formats.errors",
    "AnalyzerInfo": "analyzer_drivers.base", "PtdAnalyzer": "analyzer_drivers.meters.ptd",
    "Ranges": "analyzer_drivers.base", "Sample": "analyzer_drivers.formats.sample",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'analyzer_drivers' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
