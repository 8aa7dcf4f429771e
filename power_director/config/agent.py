"""A meter agent's TOML configuration.

Example::

    [agent]
    id = "node1"                     # topics power-director/fleet/node1/...
    broker = "mqtt.lab:8883"
    tls_ca = "/etc/power-director/ca.pem"        # TLS to the broker (empty: plain TCP)
    username = "node1"
    password_file = "/etc/power-director/mqtt-password"
    journal_dir = "/var/lib/power-director/agent"
    metrics_port = 9465              # Prometheus exporter (0: none) ...
    metrics_host = "0.0.0.0"         # ... on every interface (default 127.0.0.1)
    max_refused_logins = 10          # exit 2 after this many refused logins in a row (0: retry for ever)
    signing_key_file = "/etc/power-director/node1.key"  # sign every message (openssl rand -hex 32)
    key_id = "node1"                 # the id directors know that key by (default: the agent's id)

    [[meter]]                        # a name, then a meter's type and keys as in [analyzer]
    name = "psu1"                    # (examples/*.toml; the registry: power_director/config/meters/)
    interval_ms = 1000

    [[meter]]                        # a simulated meter (PTDaemon-protocol simulator in-process)
    name = "psu2"
    sim_watts = 350.0                # idle watts; plus sim_dynamic_watts × CPU utilisation
    sim_direct = false               # true: read the power model directly (cheap; for scale tests)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import raise_all
from analyzer_drivers.meters.plug import parse_broker
from power_director.config.loader import AnalyzerConfig, ConfigError
from power_director.config.tables import meter_from_table, section_from_table
from power_director.fleet.wire import BrokerAuth, valid_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class MeterEntry:
    name: str
    analyzer: AnalyzerConfig
    sim_watts: float = 0.0  # > 0: a simulated meter
    sim_dynamic_watts: float = 50.0
    sim_direct: bool = False  # read the power model in-process instead of through a PTD simulator


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    broker: str = "127.0.0.1:1883"
    auth: BrokerAuth = field(default_factory=BrokerAuth)
    journal_dir: str = "power-director-agent"
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    clock_shift_ms: float = 0.0  # simulation only: stamp samples this far off the real clock
    max_refused_logins: int = 10  # exit 2 after this many refused logins in a row (0: never)
    signing_key_file: str = ""  # HMAC-SHA256 key of this agent's messages (power_director.fleet.sign)
    key_id: str = ""  # empty: the agent's id
    meters: tuple[MeterEntry, ...] = ()


@dataclass(frozen=True)
class AgentSection:
    """The ``[agent]`` table as written (AgentConfig is what the agent runs with)."""

    id: str = ""  # the agent's topics: power-director/fleet/<id>/...
    broker: str = "127.0.0.1:1883"
    tls_ca: str = ""  # TLS to the broker (empty: plain TCP)
    username: str = ""  # the broker account
    password_file: str = ""  # a file holding the broker password
    journal_dir: str = "power-director-agent"  # every sample kept until the director has it
    metrics_port: int = 0  # a Prometheus exporter (0: none)
    metrics_host: str = "127.0.0.1"  # the exporter's address
    clock_shift_ms: float = 0.0  # simulation only: stamp samples this far off the real clock
    max_refused_logins: int = 10  # exit 2 after this many refused logins in a row (0: retry for ever)
    signing_key_file: str = ""  # sign every message with this key (openssl rand -hex 32)
    key_id: str = ""  # the id directors know that key by (empty: the agent's id)

    def problems(self) -> list[str]:
        found = []
        if not valid_name(self.id):
            found.append(f"[agent] id {self.id!r} must be non-empty, without # + / or spaces")
        try:
            parse_broker(self.broker)
        except ValueError as exc:
            found.append(f"[agent] {exc}")
        if not 0 <= self.metrics_port < 65536:
            found.append(f"[agent] metrics_port {self.metrics_port} is not a TCP port")
        if self.max_refused_logins < 0:
            found.append(f"[agent] max_refused_logins must be ≥ 0, not {self.max_refused_logins}")
        return found

    def config(self, meters: tuple[MeterEntry, ...]) -> AgentConfig:
        return AgentConfig(
            agent_id=self.id, broker=self.broker,
            auth=BrokerAuth(self.tls_ca, self.username, self.password_file),
            journal_dir=self.journal_dir, metrics_port=self.metrics_port, metrics_host=self.metrics_host,
            clock_shift_ms=self.clock_shift_ms, meters=meters, max_refused_logins=self.max_refused_logins,
            signing_key_file=self.signing_key_file, key_id=self.key_id or self.id,
        )


def agent_config_from_dict(data: dict[str, Any]) -> AgentConfig:
    """The agent's config; every problem found (``[agent]`` and each ``[[meter]]``) in one error."""
    problems = [f"unknown section(s): {', '.join(sorted(set(data) - {'agent', 'meter'}))}"] \
        if set(data) - {"agent", "meter"} else []
    agent = None
    if not isinstance(data.get("agent"), dict):
        problems.append("[agent] is missing: it needs at least id")
    elif (agent := section_from_table(AgentSection, "agent", data["agent"], problems)) is not None:
        problems += agent.problems()
    meters = _meters(data.get("meter", []), problems)
    raise_all(problems)
    assert agent is not None  # else a problem was raised
    return agent.config(meters)


def _meter(table: dict[str, Any], problems: list[str]) -> MeterEntry | None:
    keys = dict(table)
    name = keys.pop("name", "")
    if not isinstance(name, str) or not valid_name(name):
        problems.append(f"[[meter]] name {name!r} must be non-empty, without # + / or spaces")
    sim = {k: keys.pop(k) for k in ("sim_watts", "sim_dynamic_watts") if k in keys}
    problems += [f"[[meter]] {name}: {key} must be a number ≥ 0, not {value!r}"
                 for key, value in sim.items() if type(value) not in (int, float) or value < 0]
    direct = keys.pop("sim_direct", False)
    if type(direct) is not bool:
        problems.append(f"[[meter]] {name}: sim_direct must be true or false, not {direct!r}")
    before = len(problems)
    analyzer = meter_from_table(f"meter {name}", keys, problems)
    problems += analyzer.problems() if analyzer is not None else []
    if analyzer is None or len(problems) > before:
        return None
    return MeterEntry(str(name), analyzer, **{k: float(v) for k, v in sim.items()}, sim_direct=direct is True)


def _meters(tables: Any, problems: list[str]) -> tuple[MeterEntry, ...]:
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        problems.append("an agent needs at least one [[meter]] table")
        return ()
    entries = [entry for table in tables if (entry := _meter(table, problems)) is not None]
    names = [str(table.get("name", "")) for table in tables]
    if len(set(names)) != len(names):
        problems.append(f"two [[meter]] tables share a name: {', '.join(names)}")
    return tuple(entries)


def load_agent_config(path: Path) -> AgentConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return agent_config_from_dict(data)
