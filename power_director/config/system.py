"""A multi-node system under test: ``[[node]]`` and ``[[switch]]`` tables of a session config.

Example (meters are named by their driver name, e.g. ``stream-<agent>-<meter>`` for an
meter agent's meter; every primary/``sum`` meter belongs to exactly one node or switch)::

    [[node]]
    name = "node1"
    meters = ["stream-node1-psu1", "stream-node1-psu2"]

    [[switch]]
    name = "leaf1"
    meter = "stream-rack-pdu7"      # measured ...

    [[switch]]
    name = "spine"
    max_spec_watts = 650.0          # ... or estimated as max spec power × provisioning ratio
    provisioning_ratio = 0.25       # (MLPerf Training power rules), marked as estimated
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from analyzer_drivers.formats.errors import ConfigError


@dataclass(frozen=True)
class NodeConfig:
    name: str
    meters: tuple[str, ...]


@dataclass(frozen=True)
class SwitchConfig:
    name: str
    meter: str = ""
    max_spec_watts: float = 0.0
    provisioning_ratio: float = 0.0

    @property
    def estimated_watts(self) -> float | None:
        return None if self.meter else self.max_spec_watts * self.provisioning_ratio


@dataclass(frozen=True)
class SystemConfig:
    nodes: tuple[NodeConfig, ...]
    switches: tuple[SwitchConfig, ...] = ()

    def describe(self) -> dict[str, Any]:
        """What ``session.json`` keeps, for reports.multinode."""
        return {
            "nodes": [{"name": n.name, "meters": list(n.meters)} for n in self.nodes],
            "switches": [
                {"name": s.name, "meter": s.meter} if s.meter else
                {"name": s.name, "max_spec_watts": s.max_spec_watts,
                 "provisioning_ratio": s.provisioning_ratio, "estimated_watts": s.estimated_watts}
                for s in self.switches
            ],
        }

    def meters(self) -> list[str]:
        return [m for n in self.nodes for m in n.meters] + [s.meter for s in self.switches if s.meter]


Table = TypeVar("Table", NodeConfig, SwitchConfig)


def _name(table: dict[str, Any], kind: str) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\,\n"):
        raise ConfigError(f"[[{kind}]] name {name!r} must be non-empty, without / \\ , or newline")
    return name


def _node(table: Any) -> NodeConfig:
    if not isinstance(table, dict):
        raise ConfigError("node must be an array of tables: [[node]]")
    name = _name(table, "node")
    unknown = sorted(set(table) - {"name", "meters"})
    meters = table.get("meters")
    if unknown:
        raise ConfigError(f"[[node]] {name}: unknown key(s): {', '.join(unknown)}")
    if not isinstance(meters, list) or not meters or not all(isinstance(m, str) and m for m in meters):
        raise ConfigError(f"[[node]] {name}: meters must be a non-empty list of meter names")
    return NodeConfig(name, tuple(meters))


def _switch(table: Any) -> SwitchConfig:
    if not isinstance(table, dict):
        raise ConfigError("switch must be an array of tables: [[switch]]")
    name = _name(table, "switch")
    unknown = sorted(set(table) - {"name", "meter", "max_spec_watts", "provisioning_ratio"})
    if unknown:
        raise ConfigError(f"[[switch]] {name}: unknown key(s): {', '.join(unknown)}")
    meter = table.get("meter", "")
    spec, ratio = table.get("max_spec_watts"), table.get("provisioning_ratio")
    if meter and (spec is not None or ratio is not None):
        raise ConfigError(
            f"[[switch]] {name}: give meter, or max_spec_watts and provisioning_ratio; not both"
        )
    if meter:
        if not isinstance(meter, str):
            raise ConfigError(f"[[switch]] {name}: meter must be a meter name")
        return SwitchConfig(name, meter=meter)
    if not (isinstance(spec, (int, float)) and isinstance(ratio, (int, float))
            and spec > 0 and 0 < ratio <= 1) or isinstance(spec, bool) or isinstance(ratio, bool):
        raise ConfigError(f"[[switch]] {name}: without a meter it needs max_spec_watts > 0 and "
                          f"0 < provisioning_ratio ≤ 1 (estimated = max spec power × provisioning ratio)")
    return SwitchConfig(name, max_spec_watts=float(spec), provisioning_ratio=float(ratio))


def _each(read: Callable[[Any], Table], tables: list[Any], problems: list[str]) -> list[Table]:
    """``read`` of each table; the problem of each table that has one is added to ``problems``."""
    read_tables = []
    for table in tables:
        try:
            read_tables.append(read(table))
        except ConfigError as exc:
            problems.append(str(exc))
    return read_tables


def system_from_dict(data: dict[str, Any], problems: list[str]) -> SystemConfig | None:
    """The ``node`` and ``switch`` arrays of a config, or None when there are no nodes or they
    have problems: each table's, and then those between tables, added to ``problems``."""
    nodes_data, switches_data = data.get("node"), data.get("switch")
    if nodes_data is None:
        if switches_data is not None:
            problems.append("[[switch]] tables need [[node]] tables too")
        return None
    if not isinstance(nodes_data, list) or not isinstance(switches_data or [], list):
        problems.append("node and switch must be arrays of tables: [[node]], [[switch]]")
        return None
    found: list[str] = []
    nodes, switches = _each(_node, nodes_data, found), _each(_switch, switches_data or [], found)
    system = SystemConfig(tuple(nodes), tuple(switches))
    if not found:
        names = [n.name for n in system.nodes] + [s.name for s in system.switches]
        if len(set(names)) != len(names):
            found.append(f"two nodes or switches share a name: {', '.join(names)}")
        meters = system.meters()
        twice = sorted({m for m in meters if meters.count(m) > 1})
        if twice:
            found.append(f"meter(s) {', '.join(twice)} belong to more than one node or switch")
    problems += found
    return None if found else system


def check_system_meters(system: SystemConfig, primary_and_sum: list[str]) -> None:
    """Every measured (primary/sum) meter belongs to one node or switch, and only those do."""
    named, measured = set(system.meters()), set(primary_and_sum)
    if named - measured:
        raise ConfigError(
            f"[[node]]/[[switch]] name meter(s) the session does not measure as primary or sum: "
            f"{', '.join(sorted(named - measured))} (measured: {', '.join(primary_and_sum)})"
        )
    if measured - named:
        missing = ", ".join(sorted(measured - named))
        raise ConfigError(f"meter(s) {missing} belong to no [[node]] or [[switch]]")
