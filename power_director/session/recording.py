"""After a session: record it in the lab's results store when the config names one."""

from __future__ import annotations

from pathlib import Path

from power_director.config.loader import Config
from reports.store.postgres import open_store


def record_session(config: Config, session_dir: Path) -> None:
    """Add the session to ``[session] results_url`` (its director named by ``[telemetry]
    director_id``, else the host name). Raises ReportError; the session's files stay as they are."""
    if not config.session.results_url:
        return
    store = open_store(config.session.results_url, session_dir.parent, config.telemetry.director_id or None)
    try:
        store.add(session_dir)
    finally:
        store.close()
