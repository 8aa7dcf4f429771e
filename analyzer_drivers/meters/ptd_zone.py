"""The time zone of a PTDaemon's sample stamps.

power-dev starts PTDaemon with ``TZ=UTC`` (ptd_client_server/lib/server.py), so its stamps
are UTC; a daemon someone else started stamps its host's local time (real v1.0 submissions
did: docs/protocols.md#real-devices). ``PtdZone`` turns stamps read as UTC into true UTC: for ``UTC`` as
they are, for a fixed offset (``+08:00``) or an IANA zone (``America/Los_Angeles``) by that
zone's offset, for ``auto`` by the offset that the first samples show against our clock,
rounded to the quarter hour (every zone offset is a multiple of 15 min). Whatever the
setting, stamps still more than ``SUSPECT_NS`` away from our clock are an error, never an
hour silently off.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.timefmt import NS_PER_S

QUARTER_HOUR_NS = 15 * 60 * NS_PER_S
#: Stamps this far from our clock are a time-zone mistake, not clock drift (which the
#: session's analyzer-clock check reports).
SUSPECT_NS = 10 * 60 * NS_PER_S
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def zone_error(zone: str) -> str | None:
    """Why ``zone`` is not a valid setting, or None."""
    if zone in ("UTC", "auto") or _OFFSET.fullmatch(zone):
        return None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{zone!r} is not 'UTC', 'auto', an offset like '+08:00' or an IANA zone name"
    return None


class PtdZone:
    """Corrects one daemon's stamps; ``offset_ns`` is local minus UTC (0 until known)."""

    def __init__(self, zone: str = "UTC") -> None:
        error = zone_error(zone)
        if error is not None:
            raise AnalyzerError(f"PTDaemon time zone {error}")
        self.zone = zone
        self.detected_ns: int | None = None

    def offset_ns(self, stamp_ns: int) -> int:
        """Local minus UTC at a stamp read as UTC."""
        if self.zone == "UTC":
            return 0
        if self.zone == "auto":
            return self.detected_ns or 0
        if match := _OFFSET.fullmatch(self.zone):
            sign = -1 if match[1] == "-" else 1
            return sign * (int(match[2]) * 3600 + int(match[3]) * 60) * NS_PER_S
        wall = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=stamp_ns // 1000)
        offset = zoneinfo.ZoneInfo(self.zone).utcoffset(wall)
        return 0 if offset is None else offset // dt.timedelta(microseconds=1) * 1000

    def correct(self, stamps_ns: list[int], received_ns: int, where: str) -> int:
        """The offset to subtract from these stamps (read as UTC; the newest last), checked
        against ``received_ns``, our clock when they arrived."""
        if not stamps_ns:
            return self.offset_ns(received_ns)
        newest = stamps_ns[-1]
        if self.zone == "auto" and self.detected_ns is None:
            ahead = newest - received_ns
            self.detected_ns = round(ahead / QUARTER_HOUR_NS) * QUARTER_HOUR_NS
        offset = self.offset_ns(newest)
        off_ns = newest - offset - received_ns
        if abs(off_ns) > SUSPECT_NS:
            raise AnalyzerError(
                f"{where} stamps its samples {off_ns / 3.6e12:+.2f} h from our clock with time zone "
                f"{self.zone!r}: it is not on that zone (power-dev starts PTDaemon with TZ=UTC) or "
                "its clock is wrong; set [analyzer] ptd_timezone to its zone, or 'auto'"
            )
        return offset
