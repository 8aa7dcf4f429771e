"""The director's TOML configuration, validated with errors that name the bad key.

Example::

    [analyzer]
    type = "ptd"            # SPEC PTDaemon, or our simulator of it
    host = "127.0.0.1"
    port = 8888
    interval_ms = 1000      # MLPerf samples at 1 s
    ptd_timezone = "UTC"    # zone of PTDaemon's stamps: "UTC", "auto", "+08:00", "Europe/Berlin"

    [session]
    label = "resnet50-offline"
    out_dir = "power-runs"
    settle_s = 1.0          # pause after a range change; MLPerf's workflow sleeps 10 s

    [service]               # ``power-director serve``: the director for remote SUT agents
    host = "127.0.0.1"      # any other address needs token_file
    port = 4950
    token_file = "/etc/power-director/token"   # shared secret, also given to the agent
    v3_allowed_addresses = ["192.168.1.20"]    # MLCommons v3 clients allowed from here

    [telemetry]             # live state, samples and result over MQTT (see power_director.observe.telemetry)
    broker = "127.0.0.1:1883"   # empty: no telemetry (``--mqtt HOST:PORT`` overrides)
    director_id = "lab-rack-3"  # topics power-director/<director_id>/...; default: the host name

Other meters (keys of other types are left at their defaults)::

    type = "yokogawa"       # WT310/WT310E/WT330E/WT333E over VISA (pyvisa-py)
    resource = "TCPIP::192.168.1.20::INSTR"
    element = "1"           # "1".."3", or "sum" for Σ on a WT330E/WT333E
    crest_factor = 3        # 3 or 6
    interval_ms = 1000      # an update interval: 100, 250, 500, 1000, 2000, 5000, 10000, 20000

    type = "tasmota"        # or "shelly": a smart plug over MQTT
    broker = "127.0.0.1:1883"
    topic = "plug1"         # Tasmota topic, the Shelly Gen2 topic prefix, or the Gen1 device id
    full_topic = "%prefix%/%topic%/"   # Tasmota FullTopic
    channel = "sum"         # Tasmota multi-channel devices: "sum" or "1", "2", ...
    shelly_component = "switch:0"      # or pm1:0, em:0, em1:1; Gen1: relay:0, emeter:0

    type = "rapl"           # CPU package energy counters (root only)
    type = "nvml"           # NVIDIA GPU energy counters (pip install 'power-director[nvml]')

    type = "redfish"        # a BMC's chassis power (pip install 'power-director[datacenter]')
    url = "https://10.0.0.9"
    username = "power"
    password_file = "/etc/power-director/bmc-password"
    ca_file = "/etc/power-director/bmc-ca.pem"   # or insecure = true
    chassis = ""            # empty: the first chassis with power; redfish_schema, sensor, power_control

    type = "ipmi-dcmi"      # a BMC's DCMI power reading through ipmitool or FreeIPMI's ipmi-dcmi
    host = "10.0.0.9"       # "local": this machine's own BMC (in-band)
    ipmi_tool = "ipmitool"  # or "freeipmi"
    username = "power"
    password_file = "/etc/power-director/bmc-password"

    type = "snmp"           # a rack PDU's outlets
    host = "10.0.0.10"
    port = 161
    snmp_family = "raritan" # raritan, apc, sentry4, entity
    outlets = ["1.3", "1.4"]
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer_drivers.formats.errors import ConfigError as ConfigError
from power_director.config.meter import AnalyzerConfig as AnalyzerConfig
from power_director.config.sections import ServiceConfig as ServiceConfig
from power_director.config.sections import SessionConfig as SessionConfig
from power_director.config.sections import TelemetryConfig as TelemetryConfig
from power_director.config.sections import raise_all
from power_director.config.tables import COMMON_METER_KEYS as COMMON_METER_KEYS
from power_director.config.tables import EXTRA_ROLES as EXTRA_ROLES
from power_director.config.tables import METER_KEYS as METER_KEYS
from power_director.config.tables import extra_analyzers, section_from_table

if TYPE_CHECKING:
    from power_director.config.system import SystemConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Config:
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    #: (role, meter): "sum" meters add to the wall power, "beside" meters are shown next to it.
    extra_analyzers: tuple[tuple[str, AnalyzerConfig], ...] = ()
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    #: ``[[node]]``/``[[switch]]``: a multi-node system (power_director.config.system)
    system: SystemConfig | None = None

    def problems(self) -> list[str]:
        """Every section's problems, in the file's order, one line each."""
        sections: list[AnalyzerConfig | SessionConfig | ServiceConfig | TelemetryConfig] = [
            self.analyzer, *(meter for _, meter in self.extra_analyzers), self.session, self.service,
            self.telemetry]
        return [problem for section in sections for problem in section.problems()]

    def validate(self) -> Config:
        raise_all(self.problems())
        return self


SECTIONS = ("analyzer", "session", "service", "telemetry", "extra_analyzer")
SYSTEM_SECTIONS = ("node", "switch")  # a multi-node system: power_director.config.system


def config_from_dict(data: dict[str, Any]) -> Config:
    """The config from a parsed TOML document; every problem found is reported in one error."""
    from power_director.config.system import system_from_dict  # it builds on this module

    problems = []
    for key in data:
        if key not in (*SECTIONS, *SYSTEM_SECTIONS):
            close = difflib.get_close_matches(key, SECTIONS, n=1)
            problems.append(f"unknown section [{key}]" + (f" (did you mean [{close[0]}]?)" if close else ""))
    analyzer = section_from_table(AnalyzerConfig, "analyzer", data.get("analyzer", {}), problems)
    session = section_from_table(SessionConfig, "session", data.get("session", {}), problems)
    service = section_from_table(ServiceConfig, "service", data.get("service", {}), problems)
    extras = extra_analyzers(data.get("extra_analyzer", []), problems)
    telemetry = section_from_table(TelemetryConfig, "telemetry", data.get("telemetry", {}), problems)
    sections: list[AnalyzerConfig | SessionConfig | ServiceConfig | TelemetryConfig | None] = [
        analyzer, *(meter for _, meter in extras), session, service, telemetry]
    problems += [problem for section in sections if section is not None for problem in section.problems()]
    system = system_from_dict(data, problems)
    raise_all(problems)
    config = (Config(analyzer, session, service, extras, telemetry, system)
              if analyzer and session and service and telemetry else None)
    assert config is not None  # a section that could not be built added a problem
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if not data:
        raise ConfigError(f"{path} holds no settings: give at least an [analyzer] table")
    return config_from_dict(data)
