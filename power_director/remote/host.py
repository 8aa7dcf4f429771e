"""What a protocol handler (``v3``, the agent protocol) needs of the director service: the
one session slot, the Session assembly and the service's settings. ``service`` imports the
handlers; the handlers import only this, so there is no circle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from analyzer_drivers.formats.errors import PowerDirectorError
from loadgen_bridge.workload import Workload
from power_director.config.loader import Config, ConfigError, ServiceConfig, SessionConfig
from power_director.session.session import Session

MAX_LABEL_CHARS = 64
SESSION_ERRORS = (PowerDirectorError, OSError)  # a session that ends with one of these is 'aborted'


def check_label(label: Any) -> str:
    if not isinstance(label, str) or len(label) > MAX_LABEL_CHARS:
        raise ConfigError(f"label must be a string of at most {MAX_LABEL_CHARS} characters")
    SessionConfig(label=label).validate()
    return label


class SessionHost(Protocol):
    """The director service as a protocol handler sees it."""

    config: Config
    service: ServiceConfig
    say: Callable[[str], None]

    def claim(self, who: str) -> str | None: ...

    def release(self) -> None: ...

    def new_session(self, workload: Workload, label: str, sut_host: str = "") -> Session: ...
