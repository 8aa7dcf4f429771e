"""The director's TOML configuration, validated with errors that name the bad key.

Example::

    [analyzer]              # the meter: ``type`` and that type's keys (examples/*.toml, one per type)
    interval_ms = 1000      # MLPerf samples at 1 s

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

The meter types and their keys: ``power_director/config/meters/`` (the registry;
``python -m power_director.config.meters`` prints every key with its default and help).
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer_drivers.formats.errors import ConfigError as ConfigError
from analyzer_drivers.formats.errors import raise_all
from power_director.config.meters import METER_TYPES as METER_TYPES
from power_director.config.meters import AnalyzerConfig as AnalyzerConfig
from power_director.config.meters import default_meter
from power_director.config.sections import ServiceConfig as ServiceConfig
from power_director.config.sections import SessionConfig as SessionConfig
from power_director.config.sections import TelemetryConfig as TelemetryConfig
from power_director.config.tables import EXTRA_ROLES as EXTRA_ROLES
from power_director.config.tables import ExtraAnalyzer as ExtraAnalyzer
from power_director.config.tables import extra_analyzers, meter_from_table, section_from_table

if TYPE_CHECKING:
    from power_director.config.system import SystemConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Config:
    analyzer: AnalyzerConfig = field(default_factory=default_meter)
    session: SessionConfig = field(default_factory=SessionConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    extra_analyzers: tuple[ExtraAnalyzer, ...] = ()
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    #: ``[[node]]``/``[[switch]]``: a multi-node system (power_director.config.system)
    system: SystemConfig | None = None

    def problems(self) -> list[str]:
        """Every section's problems, in the file's order, one line each."""
        sections: list[AnalyzerConfig | SessionConfig | ServiceConfig | TelemetryConfig] = [
            self.analyzer, *(extra.meter for extra in self.extra_analyzers), self.session, self.service,
            self.telemetry]
        return [problem for section in sections for problem in section.problems()]

    def settings(self) -> dict[str, Any]:
        """The effective configuration as the TOML would spell it (each meter with its ``type``)."""
        found = asdict(self)
        found["analyzer"] = self.analyzer.settings()
        found["extra_analyzers"] = [{"role": e.role, **e.meter.settings()} for e in self.extra_analyzers]
        return found

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
    analyzer = meter_from_table("analyzer", data.get("analyzer", {}), problems)
    session = section_from_table(SessionConfig, "session", data.get("session", {}), problems)
    service = section_from_table(ServiceConfig, "service", data.get("service", {}), problems)
    extras = extra_analyzers(data.get("extra_analyzer", []), problems)
    telemetry = section_from_table(TelemetryConfig, "telemetry", data.get("telemetry", {}), problems)
    sections: list[AnalyzerConfig | SessionConfig | ServiceConfig | TelemetryConfig | None] = [
        analyzer, *(extra.meter for extra in extras), session, service, telemetry]
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
