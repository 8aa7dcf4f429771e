"""``type = "ptd"``: SPEC PTDaemon (or our simulator of it) over TCP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer_drivers.meters.ptd_zone import zone_error
from power_director.config.meters.base import AnalyzerConfig, key, port_problems

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class PtdConfig(AnalyzerConfig):
    """SPEC PTDaemon over TCP (the MLPerf Power meter daemon), or its simulator."""

    type = "ptd"
    host: str = key("127.0.0.1", "PTDaemon's address")
    port: int = key(8888, "PTDaemon's TCP port")
    ptd_timezone: str = key("UTC", "the zone of PTDaemon's stamps: UTC (power-dev starts it with TZ=UTC), "
                                   "auto (from its first samples against our clock), +08:00, or an IANA name")

    def type_problems(self) -> list[str]:
        found = port_problems(self.port)
        if (zone_problem := zone_error(self.ptd_timezone)) is not None:
            found.append(f"[analyzer] ptd_timezone {zone_problem}")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.ptd import PtdAnalyzer

        return PtdAnalyzer(self.host, self.port, connect_timeout_s=self.connect_timeout_s,
                           reply_timeout_s=self.reply_timeout_s, timezone=self.ptd_timezone)
