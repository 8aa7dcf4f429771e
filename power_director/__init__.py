"""power-director: wall power during MLPerf LoadGen runs, and a Python API for any code.

Names load on first use (the CLI and the SUT agent need not load pandas or a driver); the
``TYPE_CHECKING`` imports give type checkers and IDEs the real signatures.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from power_director.api import MeasureError, PowerMonitor, WindowResult, mark, measure
    from reports.model.results import SessionResult, load_session
    from reports.store.frames import samples_frame, sessions_frame
    from reports.store.sqlite import Query, SqliteStore

    __version__: str  # the installed package's version ("unknown" in a bare source tree)


_HOMES = {
    "MeasureError": "power_director.api", "PowerMonitor": "power_director.api",
    "WindowResult": "power_director.api", "measure": "power_director.api", "mark": "power_director.api",
    "SessionResult": "reports.model.results", "load_session": "reports.model.results",
    "Query": "reports.store.sqlite", "SqliteStore": "reports.store.sqlite",
    "samples_frame": "reports.store.frames", "sessions_frame": "reports.store.frames",
}
__all__ = [
    "MeasureError", "PowerMonitor", "Query", "SessionResult", "SqliteStore", "WindowResult",
    "__version__", "load_session", "mark", "measure", "samples_frame", "sessions_frame",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the package's metadata on first use, as the CLI does
        from reports.version import tool_version

        return tool_version()
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'power_director' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    """The API's names (loaded or not) and the module's dunders, not its helpers."""
    return sorted({*__all__, *(n for n in globals() if n.startswith("__") and n.endswith("__"))})
