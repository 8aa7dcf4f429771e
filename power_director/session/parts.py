"""The pieces a Session is made of: its meters with their roles and intervals, a phase's mark,
the stamps MLCommons' logs record, and the check that a cancel was not lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from analyzer_drivers.base import Analyzer, AnalyzerInfo, RangelessAnalyzer, Ranges
from power_director.config.loader import Config
from power_director.config.system import check_system_meters
from power_director.session.ranging import PhaseTally, SessionError


def phase_stamp() -> tuple[float, float]:
    """[wall, monotonic] seconds, as MLCommons' server.json/client.json record phases."""
    return time.time(), time.monotonic()


ROLES = ("primary", "sum", "beside")
# An extra meter: (analyzer, role) samples at the primary's interval; (analyzer, role,
# interval_ms) at its own.
ExtraMeter = tuple[Analyzer, str] | tuple[Analyzer, str, int]


@dataclass
class SessionMeter:
    """One analyzer in the session. ``sum`` meters add to the wall power (several supplies);
    ``beside`` meters (RAPL, NVML) are reported next to it, not added."""

    analyzer: Analyzer
    role: str
    interval_ms: int  # this meter's own sampling interval
    info: AnalyzerInfo | None = None
    initial: Ranges | None = None
    tally: PhaseTally = field(default_factory=PhaseTally)  # the current phase's samples

    @property
    def ranged(self) -> bool:
        return self.role != "beside"

    @property
    def has_ranges(self) -> bool:
        """A meter whose ranges ranging chooses (not a plug or an energy counter)."""
        return self.ranged and not isinstance(self.analyzer, RangelessAnalyzer)


@dataclass(frozen=True)
class PhaseMark:
    mark: str


def stop_if_cancelled() -> None:
    """Raise if this task was asked to stop. Python 3.11's ``wait_for`` loses a cancel that lands
    as its reply arrives (fixed in 3.12), and a Ctrl-C then started the workload anyway (seen
    in tests/test_interrupt.py under load: a 120 s workload ran on)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError


def session_meters(
    config: Config, analyzer: Analyzer, extra_analyzers: Sequence[ExtraMeter]
) -> list[SessionMeter]:
    """The session's meters, checked as ``check-config`` checks them: roles, unique names, and
    that the ``[[node]]``/``[[switch]]`` tables name exactly the measured meters."""
    meters = [SessionMeter(analyzer, "primary", config.analyzer.interval_ms)]
    for extra in extra_analyzers:
        role = extra[1]
        if role not in ROLES[1:]:
            raise SessionError(f"an extra analyzer's role is 'sum' or 'beside', not {role!r}")
        interval_ms = extra[2] if len(extra) == 3 else config.analyzer.interval_ms
        meters.append(SessionMeter(extra[0], role, interval_ms))
    names = [m.analyzer.name for m in meters]
    if len(set(names)) != len(names):
        raise SessionError(f"two analyzers share a name: {', '.join(names)}")
    if config.system is not None:
        check_system_meters(config.system, [m.analyzer.name for m in meters if m.ranged])
    return meters
