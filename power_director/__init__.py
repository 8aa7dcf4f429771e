"""power-director: wall power during MLPerf LoadGen runs, and a Python API for any code."""

from __future__ import annotations

from typing import Any

__all__ = [
    "MeasureError", "PowerMonitor", "Query", "SessionResult", "SqliteStore", "WindowResult",
    "load_session", "mark", "measure", "samples_frame", "sessions_frame",
]

_HOMES = {
    "MeasureError": "power_director.api", "PowerMonitor": "power_director.api",
    "WindowResult": "power_director.api", "measure": "power_director.api", "mark": "power_director.api",
    "SessionResult": "reports.model.results", "load_session": "reports.model.results",
    "Query": "reports.store.sqlite", "SqliteStore": "reports.store.sqlite",
    "samples_frame": "reports.store.frames", "sessions_frame": "reports.store.frames",
}


def __getattr__(name: str) -> Any:
    """Imported on first use: the CLI and the SUT agent need not load pandas or a driver."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'power_director' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
