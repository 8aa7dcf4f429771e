"""The pieces a Session is made of: its meters with their roles and intervals, its name, a
phase's mark, the stamps MLCommons' logs record, a lost meter brought back, and the check that a
cancel was not lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer_drivers.base import Analyzer, AnalyzerError, AnalyzerInfo, RangelessAnalyzer, Ranges
from analyzer_drivers.formats.session_meta import ReconnectGap
from power_director.config.loader import Config
from power_director.config.system import check_system_meters
from power_director.session.journal import AT_SOURCE_POLL_S
from power_director.session.ranging import PhaseTally, SessionError

RECONNECT_FIRST_DELAY_S = 0.1
RECONNECT_MAX_DELAY_S = 2.0


def phase_stamp() -> tuple[float, float]:
    """[wall, monotonic] seconds, as MLCommons' server.json/client.json record phases."""
    return time.time(), time.monotonic()


ROLES = ("primary", "sum", "beside")


@dataclass(frozen=True)
class ExtraMeter:
    """A meter beside the primary: ``sum`` adds to the wall power, ``beside`` is shown next to it;
    it samples at its own ``interval_ms`` (None: the primary's)."""

    analyzer: Analyzer
    role: str
    interval_ms: int | None = None


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
    next_poll_s: float = 0.0  # monotonic: when the session's poll loop next polls it

    @property
    def ranged(self) -> bool:
        return self.role != "beside"

    def due(self, now_s: float) -> bool:
        """Whether the poll loop polls it now: a meter journaled at its source every
        ``AT_SOURCE_POLL_S``, the others every time."""
        if not self.analyzer.journaled_at_source:
            return True
        if now_s < self.next_poll_s:
            return False
        self.next_poll_s = now_s + AT_SOURCE_POLL_S
        return True

    @property
    def has_ranges(self) -> bool:
        """A meter whose ranges ranging chooses (not a plug or an energy counter)."""
        return self.ranged and not isinstance(self.analyzer, RangelessAnalyzer)


def session_name(out_root: Path, label: str) -> str:
    """``<YYYY-MM-DD_HH-MM-SS>_<label>``, with ``-<n>`` for a second session in the same second
    (a v3 client retrying)."""
    name = f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{label}"
    for n in range(2, 100):
        if not (out_root / name).exists():
            break
        name = f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{label}-{n}"
    return name


@dataclass(frozen=True)
class PhaseMark:
    mark: str


async def reconnect(meter: SessionMeter, mark: str, error: AnalyzerError, timeout_s: float,
                    say: Callable[[str], None]) -> ReconnectGap:
    """Bring a lost analyzer back within ``timeout_s``, with backoff; the gap it leaves."""
    lost_ns = time.time_ns()
    say(f"  warning: {error}; reconnecting")
    deadline = time.monotonic() + timeout_s
    delay_s = RECONNECT_FIRST_DELAY_S
    while True:
        try:
            await asyncio.wait_for(meter.analyzer.reconnect(), max(0.1, deadline - time.monotonic()))
            restarted = await meter.analyzer.resume(mark, meter.interval_ms)
            break
        except (AnalyzerError, asyncio.TimeoutError) as exc:
            if time.monotonic() + delay_s > deadline:
                raise AnalyzerError(f"{error}; no reconnect within {timeout_s:g} s: {exc}") from exc
            await asyncio.sleep(delay_s)
            delay_s = min(2 * delay_s, RECONNECT_MAX_DELAY_S)
    back_ns = time.time_ns()
    say(f"  reconnected to {meter.analyzer.name} after {(back_ns - lost_ns) / 1e9:.2f} s"
        + (" (measurement restarted)" if restarted else ""))
    return ReconnectGap.new(analyzer=meter.analyzer.name, mark=mark, error=str(error),
                            lost_t_ns=lost_ns, back_t_ns=back_ns, restarted=restarted)


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
        if extra.role not in ROLES[1:]:
            raise SessionError(f"an extra analyzer's role is 'sum' or 'beside', not {extra.role!r}")
        interval_ms = extra.interval_ms or config.analyzer.interval_ms
        meters.append(SessionMeter(extra.analyzer, extra.role, interval_ms))
    names = [m.analyzer.name for m in meters]
    if len(set(names)) != len(names):
        raise SessionError(f"two analyzers share a name: {', '.join(names)}")
    if config.system is not None:
        check_system_meters(config.system, [m.analyzer.name for m in meters if m.ranged])
    return meters
