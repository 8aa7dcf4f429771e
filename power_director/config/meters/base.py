"""What every meter type's config shares: the keys every meter reads and their checks, the
help each key carries (the configuration reference prints it), and the secrets a driver reads
from files. A meter type is a subclass in its own module, registered in ``meters/__init__.py``."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from analyzer_drivers.formats.errors import raise_all
from analyzer_drivers.meters.plug import parse_broker

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer

T = TypeVar("T")


def key(default: T, help: str) -> T:
    """A config key: its default and its one-line help for the configuration reference."""
    made: T = field(default=default, metadata={"help": help})
    return made


@dataclass(frozen=True, kw_only=True)
class AnalyzerConfig(ABC):
    """One meter's settings: ``[analyzer]``, each ``[[extra_analyzer]]``, a meter agent's
    ``[[meter]]``. Each meter type adds its own keys, checks and ``build()``."""

    #: the TOML ``type`` that picks this class (the registry's key)
    type: ClassVar[str]
    #: the meter reports its own averaging and accuracy (``identify()``): ask it before advising
    describes_itself: ClassVar[bool] = False
    interval_ms: int = key(1000, "sampling interval in ms (MLPerf: 1000)")
    connect_timeout_s: float = key(30.0, "how long to wait for the meter to answer at the start")
    reply_timeout_s: float = key(10.0, "how long to wait for one reading")
    serial: str = key("", "the meter's serial number for MLPerf (empty: what the meter reports)")
    calibration_date: str = key("", "the meter's last calibration, YYYY-MM-DD")
    calibration_file: str = key("", "a saved calibration (power-director calibrate) applied in the report")

    def validate(self) -> None:
        raise_all(self.problems())

    def problems(self) -> list[str]:
        """Every problem with these settings, one line each (a problem that follows from one
        already listed is not listed again)."""
        found = []
        if not 10 <= self.interval_ms <= 60_000:
            found.append(f"[analyzer] interval_ms {self.interval_ms} is outside 10..60000")
        found += positive("analyzer", "connect_timeout_s", self.connect_timeout_s)
        found += positive("analyzer", "reply_timeout_s", self.reply_timeout_s)
        if self.calibration_date and not re.fullmatch(r"\d{4}-\d\d-\d\d", self.calibration_date):
            found.append(f"[analyzer] calibration_date {self.calibration_date!r} is not YYYY-MM-DD")
        return found + self.type_problems()

    def type_problems(self) -> list[str]:
        """The problems with this meter type's own keys."""
        return []

    @abstractmethod
    def build(self) -> Analyzer:
        """The driver these settings describe (not yet connected)."""

    def summed_rows(self) -> int:
        """How many readings the meter adds up into one (a PDU's outlets); 1 for most meters."""
        return 1

    def settings(self) -> dict[str, Any]:
        """The effective settings as the TOML table would spell them, ``type`` first."""
        return {"type": self.type, **asdict(self)}


def positive(section: str, key: str, value: float) -> list[str]:
    return [] if value > 0 else [f"[{section}] {key} must be positive, not {value}"]


def port_problems(port: int) -> list[str]:
    return [] if 0 < port < 65536 else [f"[analyzer] port {port} is not a TCP port"]


def topic_ok(topic: str) -> bool:
    return bool(topic) and not any(c in topic for c in "#+ ")


def mqtt_problems(meter_type: str, broker: str, topic: str) -> list[str]:
    """A meter read over MQTT: its broker and the topic it publishes on."""
    found = []
    try:
        parse_broker(broker)
    except ValueError as exc:
        found.append(f"[analyzer] {exc}")
    if not topic_ok(topic):
        found.append(f"[analyzer] type {meter_type!r} needs topic: "
                     "the plug's MQTT topic, without # + or spaces")
    return found


def read_secret(path: str, what: str) -> str:
    """A password or key from its file (never from the config itself); empty path: none."""
    from analyzer_drivers.base import AnalyzerError

    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AnalyzerError(f"cannot read {what} {path}: {exc.strerror}") from exc
