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

    [[meter]]                        # any [analyzer] keys, plus a name
    name = "psu1"
    type = "yokogawa"
    resource = "USB0::0x0B21::0x0025::C2PH13047V::INSTR"

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

from analyzer_drivers.meters.plug import parse_broker
from power_director.config.loader import AnalyzerConfig, ConfigError
from power_director.config.tables import section_from_table
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


_AGENT_KEYS = {"id": str, "broker": str, "tls_ca": str, "username": str, "password_file": str,
               "journal_dir": str, "metrics_port": int, "metrics_host": str, "clock_shift_ms": float,
               "max_refused_logins": int, "signing_key_file": str, "key_id": str}


def agent_config_from_dict(data: dict[str, Any]) -> AgentConfig:
    unknown = sorted(set(data) - {"agent", "meter"})
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(unknown)}")
    agent = data.get("agent")
    if not isinstance(agent, dict):
        raise ConfigError("[agent] is missing: it needs at least id")
    for key, value in agent.items():
        expected = _AGENT_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"[agent] has an unknown key: {key}")
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            raise ConfigError(f"[agent] {key} must be a {expected.__name__}, not {value!r}")
    agent_id = agent.get("id", "")
    if not valid_name(agent_id):
        raise ConfigError(f"[agent] id {agent_id!r} must be non-empty, without # + / or spaces")
    try:
        parse_broker(agent.get("broker", "127.0.0.1:1883"))
    except ValueError as exc:
        raise ConfigError(f"[agent] {exc}") from exc
    port = agent.get("metrics_port", 0)
    if not 0 <= port < 65536:
        raise ConfigError(f"[agent] metrics_port {port} is not a TCP port")
    meters = _meters(data.get("meter", []))
    return AgentConfig(
        agent_id=agent_id, broker=agent.get("broker", "127.0.0.1:1883"),
        auth=BrokerAuth(agent.get("tls_ca", ""), agent.get("username", ""), agent.get("password_file", "")),
        journal_dir=agent.get("journal_dir", "power-director-agent"), metrics_port=port,
        metrics_host=agent.get("metrics_host", "127.0.0.1"),
        clock_shift_ms=agent.get("clock_shift_ms", 0.0), meters=meters,
        max_refused_logins=_at_least_zero(agent, "max_refused_logins", 10),
        signing_key_file=agent.get("signing_key_file", ""), key_id=agent.get("key_id", "") or agent_id,
    )


def _at_least_zero(agent: dict[str, Any], key: str, default: int) -> int:
    value = agent.get(key, default)
    if value < 0:
        raise ConfigError(f"[agent] {key} must be ≥ 0, not {value}")
    return int(value)


def _meters(tables: Any) -> tuple[MeterEntry, ...]:
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("an agent needs at least one [[meter]] table")
    entries = []
    for table in tables:
        keys = dict(table)
        name = keys.pop("name", "")
        if not isinstance(name, str) or not valid_name(name):
            raise ConfigError(f"[[meter]] name {name!r} must be non-empty, without # + / or spaces")
        sim = {k: keys.pop(k) for k in ("sim_watts", "sim_dynamic_watts") if k in keys}
        for key, value in sim.items():
            if type(value) not in (int, float) or value < 0:
                raise ConfigError(f"[[meter]] {name}: {key} must be a number ≥ 0, not {value!r}")
        direct = keys.pop("sim_direct", False)
        if type(direct) is not bool:
            raise ConfigError(f"[[meter]] {name}: sim_direct must be true or false, not {direct!r}")
        problems: list[str] = []
        analyzer = section_from_table(AnalyzerConfig, f"meter {name}", keys, problems)
        if analyzer is None:
            raise ConfigError(problems[0] if len(problems) == 1 else "; ".join(problems))
        analyzer.validate()
        entries.append(MeterEntry(name, analyzer, **{k: float(v) for k, v in sim.items()}, sim_direct=direct))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ConfigError(f"two [[meter]] tables share a name: {', '.join(names)}")
    return tuple(entries)


def load_agent_config(path: Path) -> AgentConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return agent_config_from_dict(data)
