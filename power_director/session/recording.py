"""A finished (or aborted, kept) session into the results stores: the SQLite index of its
output directory, and the lab's store when ``[session] results_url`` names one. ``Session.run``
calls this for every entry point (``run``, ``demo``, ``serve`` with either protocol, the fleet)."""

from __future__ import annotations

from pathlib import Path

from power_director.config.loader import Config
from reports.model.report import SessionReport
from reports.store.postgres import open_store
from reports.store.sqlite import index_session


def record_session(config: Config, session_dir: Path, built: SessionReport | None = None) -> None:
    """Index the session beside it (derived data: that never fails) and add it to ``[session]
    results_url`` (its director named by ``[telemetry] director_id``, else the host name).
    ``built``: its report, just written. Raises ReportError; the session's files stay as they are."""
    index_session(session_dir, built)
    if not config.session.results_url:
        return
    store = open_store(config.session.results_url, session_dir.parent, config.telemetry.director_id or None)
    try:
        store.add(session_dir, built)
    finally:
        store.close()
