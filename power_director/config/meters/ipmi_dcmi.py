"""``type = "ipmi-dcmi"``: a BMC's DCMI power reading through ipmitool or FreeIPMI's ipmi-dcmi."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key, read_secret

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class IpmiDcmiConfig(AnalyzerConfig):
    """A server's power as its BMC reports it over IPMI DCMI (Get Power Reading)."""

    type = "ipmi-dcmi"
    host: str = key("", "the BMC's address, or local for this machine's own BMC (in-band)")
    ipmi_tool: str = key("ipmitool", "ipmitool, or freeipmi (FreeIPMI's ipmi-dcmi)")
    username: str = key("", "the BMC account (a remote BMC)")
    password_file: str = key("", "a file holding the BMC password (never the config itself)")

    def type_problems(self) -> list[str]:
        from analyzer_drivers.meters.ipmi_dcmi import LOCAL_HOSTS, TOOLS

        found = []
        if self.ipmi_tool not in TOOLS:
            found.append(f"[analyzer] ipmi_tool {self.ipmi_tool!r} must be one of {', '.join(TOOLS)}")
        if not self.host:
            found.append(f"[analyzer] type {self.type!r} needs host: the BMC's address, or 'local' for this "
                         "machine's own BMC")
        elif self.host not in LOCAL_HOSTS and not (self.username and self.password_file):
            found.append("[analyzer] a remote BMC needs username and password_file")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.ipmi_dcmi import IpmiDcmiAnalyzer

        return IpmiDcmiAnalyzer(self.ipmi_tool, self.host, username=self.username,
                                password=read_secret(self.password_file, "password_file"),
                                timeout_s=self.reply_timeout_s)
