"""``type = "ptd"``: SPEC PTDaemon (or our simulator of it) over TCP; with ``ptd_command`` or
``ptd_path`` the director starts PTDaemon itself (analyzer_drivers.meters.ptd_managed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.ptd_launch import PtdLaunch, parse_channel, read_command
from analyzer_drivers.meters.ptd_zone import zone_error
from power_director.config.meters.base import AnalyzerConfig, key, port_problems

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class PtdConfig(AnalyzerConfig):
    """SPEC PTDaemon over TCP (the MLPerf Power meter daemon), or its simulator."""

    type = "ptd"
    host: str = key("127.0.0.1", "PTDaemon's address")
    port: int = key(8888, "PTDaemon's TCP port (a managed one's networkPort)")
    ptd_timezone: str = key("UTC", "the zone of PTDaemon's stamps: UTC (power-dev starts it with TZ=UTC), "
                                   "auto (from its first samples against our clock), +08:00, or an IANA name")
    ptd_command: tuple[str, ...] = key((), "a PTDaemon the director starts: its whole command line")
    ptd_path: str = key("", "a PTDaemon the director starts from power-dev's [ptd] options: ptd, "
                            "the PTDaemon executable")
    device_type: int = key(0, "deviceType, e.g. 49 WT310, 77 WT330 multichannel")
    device_port: str = key("", "devicePort, e.g. COM1, /dev/ttyUSB0, 192.168.1.123")
    interface_flag: str = key("", "interfaceFlag: empty (RS232), -n, -g, -y, -U")
    ptd_channel: str = key("", "channel: 1,2 for a multichannel device")
    gpib_board: int = key(-1, "gpibBoard (-b); -1: none")
    dc_flag: str = key("", "dcFlag: -D for a DC meter")

    def type_problems(self) -> list[str]:
        found = port_problems(self.port)
        if (zone_problem := zone_error(self.ptd_timezone)) is not None:
            found.append(f"[analyzer] ptd_timezone {zone_problem}")
        return found + self._managed_problems()

    def managed_launch(self) -> tuple[PtdLaunch, str] | None:
        """The PTDaemon to start (and an explicit command's ``-l`` log), or None: connect to a
        running one. AnalyzerError for settings that cannot be launched."""
        if not (self.ptd_command or self.ptd_path):
            return None
        if self.ptd_command:
            return read_command(self.ptd_command)
        channel = parse_channel(self.ptd_channel) if self.ptd_channel else None
        launch = PtdLaunch(self.ptd_path, self.device_type, self.device_port, self.interface_flag,
                           self.port, channel, None if self.gpib_board < 0 else self.gpib_board,
                           self.dc_flag or None)
        return launch, ""

    def _managed_problems(self) -> list[str]:
        if self.ptd_command and self.ptd_path:
            return ["[analyzer] give ptd_command or ptd_path (with device_type, device_port), not both"]
        try:
            managed = self.managed_launch()
        except AnalyzerError as exc:
            return [f"[analyzer] ptd_command: {exc}"]
        if managed is None:
            return []
        found = [f"[analyzer] managed PTDaemon: {problem}" for problem in managed[0].problems()]
        if self.ptd_path and not self.device_port:
            found.append("[analyzer] ptd_path needs device_port (power-dev's devicePort)")
        if self.host not in ("127.0.0.1", "localhost"):
            found.append(f"[analyzer] a PTDaemon the director starts listens on 127.0.0.1, not {self.host}")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.ptd import PtdAnalyzer
        from analyzer_drivers.meters.ptd_managed import ManagedPtdAnalyzer

        managed = self.managed_launch()
        if managed is not None:
            launch, log_path = managed
            return ManagedPtdAnalyzer(launch, log_path=log_path, connect_timeout_s=self.connect_timeout_s,
                                      reply_timeout_s=self.reply_timeout_s)
        return PtdAnalyzer(self.host, self.port, connect_timeout_s=self.connect_timeout_s,
                           reply_timeout_s=self.reply_timeout_s, timezone=self.ptd_timezone)
