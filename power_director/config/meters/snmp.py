"""``type = "snmp"``: a rack PDU's (or UPS's) power over SNMP v2c or v3 (authPriv)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from power_director.config.meters.base import AnalyzerConfig, key, port_problems, read_secret

if TYPE_CHECKING:
    from analyzer_drivers.base import Analyzer


@dataclass(frozen=True, kw_only=True)
class SnmpConfig(AnalyzerConfig):
    """A PDU's outlets, inlets or whole unit over SNMP; v3 keys come from files."""

    type = "snmp"
    describes_itself = True
    host: str = key("127.0.0.1", "the PDU's SNMP agent")
    port: int = key(0, "the agent's UDP port (161); required")
    snmp_family: str = key("raritan", "the MIB family: raritan, apc, sentry4, sentry3, entity, ups")
    snmp_source: str = key("auto", "auto (the family's first table the agent answers), or a table: "
                                   "device, inlet, …")
    outlets: tuple[str, ...] = key((), "outlet rows to sum: raritan pdu.outlet, sentry4 unit.cord.outlet")
    inlets: tuple[str, ...] = key((), "inlet rows: raritan pdu.inlet, sentry4 unit.cord, "
                                           "sentry3 tower.infeed")
    source: str = key("auto", "auto, power, or energy (the family's energy counter)")
    snmp_version: str = key("2c", "2c, or 3 (authPriv)")
    community: str = key("public", "the v2c community")
    snmp_user: str = key("", "the v3 user")
    auth_key_file: str = key("", "a file holding the v3 authentication key")
    priv_key_file: str = key("", "a file holding the v3 privacy key")
    auth_protocol: str = key("SHA", "the v3 authentication protocol")
    priv_protocol: str = key("AES", "the v3 privacy protocol")
    snmp_context: str = key("", "the v3 context name")

    def type_problems(self) -> list[str]:
        from analyzer_drivers.meters.snmp import AUTH_PROTOCOLS, PRIV_PROTOCOLS

        found = (["[analyzer] type 'snmp' needs port (an SNMP agent listens on 161)"] if self.port == 0
                 else port_problems(self.port))
        found += self._table_problems()
        if self.source not in ("auto", "power", "energy"):
            found.append(f"[analyzer] source {self.source!r} must be power or energy")
        if self.snmp_version not in ("2c", "3"):
            found.append(f"[analyzer] snmp_version {self.snmp_version!r} must be '2c' or '3'")
        if self.snmp_version == "3" and not (self.snmp_user and self.auth_key_file and self.priv_key_file):
            found.append("[analyzer] SNMPv3 needs snmp_user, auth_key_file and priv_key_file (authPriv)")
        if self.auth_protocol not in AUTH_PROTOCOLS or self.priv_protocol not in PRIV_PROTOCOLS:
            found.append(f"[analyzer] auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}, "
                         f"priv_protocol one of {', '.join(PRIV_PROTOCOLS)}")
        return found

    def _table_problems(self) -> list[str]:
        from analyzer_drivers.meters.snmp_mibs import FAMILIES, SOURCE_NAMES, inlet_source

        found = []
        if self.snmp_family not in FAMILIES:
            found.append(f"[analyzer] snmp_family {self.snmp_family!r} must be one of {', '.join(FAMILIES)}")
        elif self.snmp_source not in ("auto", *SOURCE_NAMES[self.snmp_family]):
            found.append(f"[analyzer] snmp_source {self.snmp_source!r} must be auto or one of "
                         f"{', '.join(SOURCE_NAMES[self.snmp_family])} for {self.snmp_family}")
        elif self.inlets and inlet_source(self.snmp_family) is None:
            found.append(f"[analyzer] snmp_family {self.snmp_family!r} has no inlets here; use outlets")
        if self.snmp_source != "auto" and (self.outlets or self.inlets):
            found.append("[analyzer] snmp_source names a table, outlets/inlets name rows: "
                         "use one or the other")
        return found + [f"[analyzer] outlet/inlet index {index!r} must be numbers joined by dots"
                        for index in (*self.outlets, *self.inlets) if not re.fullmatch(r"\d+(\.\d+)*", index)]

    def summed_rows(self) -> int:
        return max(1, len(self.outlets))

    def build(self) -> Analyzer:
        from analyzer_drivers.meters.snmp import SnmpCredentials, SnmpPduAnalyzer

        credentials = SnmpCredentials(
            self.snmp_version, self.community, self.snmp_user,
            read_secret(self.auth_key_file, "auth_key_file"),
            read_secret(self.priv_key_file, "priv_key_file"),
            self.auth_protocol, self.priv_protocol, self.snmp_context,
        )
        return SnmpPduAnalyzer(
            self.host, self.port, family=self.snmp_family, outlets=self.outlets, inlets=self.inlets,
            credentials=credentials, timeout_s=self.reply_timeout_s,
            source="energy" if self.source == "energy" else "power", snmp_source=self.snmp_source,
        )
