"""Which system a session measured: the name ``session.json``, ``report.json`` (under
``provenance``) and the results store give it.

The system under test is ``[session] system`` when the config names one; else, for a
remote SUT, the host name its agent reports (or, for a client that reports none, its
address); else the host the director runs on, which is then the SUT.
"""

from __future__ import annotations

import socket

MAX_NAME_CHARS = 200
FROM_CONFIG, FROM_SUT_AGENT, FROM_DIRECTOR_HOST = "config", "sut agent", "director host"


def system_name_problem(name: str, where: str = "[session] system") -> str | None:
    """Why ``name`` cannot name a system (None: it can; empty means 'not configured')."""
    if len(name) > MAX_NAME_CHARS or not name.isprintable() or name != name.strip():
        return (f"{where} {name[:60]!r} must be printable, at most {MAX_NAME_CHARS} characters, "
                "without leading or trailing spaces")
    return None


def reported_host(value: object) -> str:
    """A host name a SUT agent sent, or '' when it sent none usable."""
    if not isinstance(value, str) or not value or system_name_problem(value) is not None:
        return ""
    return value


def system_under_test(configured: str, sut_host: str = "") -> dict[str, str]:
    """``system_name`` and where it came from (``system_from``), for ``session.json``."""
    if configured:
        return {"system_name": configured, "system_from": FROM_CONFIG}
    if sut_host:
        return {"system_name": sut_host, "system_from": FROM_SUT_AGENT}
    return {"system_name": socket.gethostname(), "system_from": FROM_DIRECTOR_HOST}
