"""The tool's version, as installed (``report.json`` and the results index record it)."""

from __future__ import annotations

import functools
from importlib import metadata

UNKNOWN = "unknown"


@functools.cache
def tool_version() -> str:
    try:
        return metadata.version("power-director")
    except metadata.PackageNotFoundError:
        return UNKNOWN
