"""``type = "redfish"``: a BMC's chassis power over Redfish (pip install 'power-director[datacenter]')."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key, read_secret

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class RedfishConfig(AnalyzerConfig):
    """A server's power as its BMC reports it over Redfish; the password comes from a file."""

    type = "redfish"
    describes_itself = True
    url: str = key("", "the BMC, https://host[:port]")
    chassis: str = key("", "the chassis Id; empty: every chassis in turn, the first with power")
    redfish_schema: str = key("auto", "auto, environment, supplies, sensors, legacy (redfish_plan.SCHEMAS)")
    sensor: str = key("", "a chassis Power sensor's Id, where a chassis has several")
    power_control: str = key("auto", "legacy Power: auto (PhysicalContext Chassis entries, else all), sum, "
                                     "or a MemberId")
    username: str = key("", "the BMC account")
    password_file: str = key("", "a file holding the BMC password (never the config itself)")
    auth: str = key("session", "session, basic, or none (plain http only)")
    ca_file: str = key("", "the BMC's CA certificate (PEM)")
    insecure: bool = key(False, "skip TLS verification: say so explicitly")
    source: str = key("auto", "auto (the energy counter when present), power, energy")

    def type_problems(self) -> list[str]:
        from analyzer_drivers.meters.redfish import AUTH_METHODS, SCHEMAS, SOURCES

        found = []
        url_ok = re.fullmatch(r"https?://[^/\s]+/?", self.url) is not None
        if not url_ok:
            found.append(f"[analyzer] type {self.type!r} needs url 'https://host[:port]', not {self.url!r}")
        if self.auth not in AUTH_METHODS:
            found.append(f"[analyzer] auth {self.auth!r} must be one of {', '.join(AUTH_METHODS)}")
        if self.source not in SOURCES:
            found.append(f"[analyzer] source {self.source!r} must be one of {', '.join(SOURCES)}")
        if self.redfish_schema not in SCHEMAS:
            found.append(f"[analyzer] redfish_schema {self.redfish_schema!r} must be one of "
                         f"{', '.join(SCHEMAS)}")
        credentials = self.auth in AUTH_METHODS and self.auth != "none"
        if credentials and url_ok and not self.url.startswith("https://"):
            found.append("[analyzer] credentials over plain http are refused: use https, or auth = 'none'")
        if credentials and not (self.username and self.password_file):
            found.append("[analyzer] auth needs username and password_file")
        if self.url.startswith("https://") and not (self.ca_file or self.insecure):
            found.append("[analyzer] https needs ca_file (the BMC's CA) or an explicit insecure = true")
        return found

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.redfish import RedfishAnalyzer

        return RedfishAnalyzer(
            self.url, chassis=self.chassis, username=self.username,
            password=read_secret(self.password_file, "password_file"), auth=self.auth, ca_file=self.ca_file,
            insecure=self.insecure, timeout_s=self.reply_timeout_s, source=self.source,
            schema=self.redfish_schema, sensor=self.sensor, power_control=self.power_control,
        )
