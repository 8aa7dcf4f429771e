"""The tool's version, as installed (``report.json`` and the results index record it)."""

from __future__ import annotations

import functools

UNKNOWN = "unknown"


@functools.cache
def tool_version() -> str:
    from importlib import metadata  # ~50 ms: not for ``power-director --help``

    try:
        return metadata.version("power-director")
    except metadata.PackageNotFoundError:
        return UNKNOWN
