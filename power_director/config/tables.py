"""From TOML tables to config sections: unknown keys (with the near-miss suggested), keys of
another meter type, and values of the wrong type, every one of them listed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, TypeVar

from power_director.config.meter import AnalyzerConfig
from power_director.config.sections import ServiceConfig, SessionConfig, TelemetryConfig

Section = TypeVar("Section", AnalyzerConfig, SessionConfig, ServiceConfig, TelemetryConfig)

#: The keys each meter type reads, beyond the ones every meter has (COMMON_METER_KEYS): a key
#: of another type is an error, not silently ignored.
COMMON_METER_KEYS = frozenset({"type", "interval_ms", "connect_timeout_s", "reply_timeout_s", "serial",
                               "calibration_date", "calibration_file"})
_PLUG_KEYS = frozenset({"broker", "topic", "full_topic", "channel", "shelly_component"})
METER_KEYS: dict[str, frozenset[str]] = {
    "ptd": frozenset({"host", "port", "ptd_timezone", "ptd_command", "ptd_path", "device_type", "device_port",
                      "interface_flag", "ptd_channel", "gpib_board", "dc_flag"}),
    "yokogawa": frozenset({"resource", "visa_library", "model", "element", "crest_factor", "rate_header"}),
    "tasmota": _PLUG_KEYS,
    "shelly": _PLUG_KEYS,
    "rapl": frozenset({"rapl_root", "rapl_domains"}),
    "nvml": frozenset({"gpu_index"}),
    "redfish": frozenset({"url", "chassis", "username", "password_file", "auth", "ca_file", "insecure",
                          "source", "redfish_schema", "sensor", "power_control"}),
    "snmp": frozenset({"host", "port", "snmp_family", "snmp_source", "outlets", "inlets", "snmp_version",
                       "community",
                       "snmp_user", "auth_key_file", "priv_key_file", "auth_protocol", "priv_protocol",
                       "snmp_context", "source"}),
    "mqtt-stream": frozenset({"broker", "topic", "ca_file", "username", "password_file", "signing_key_file",
                              "key_id"}),
    "ipmi-dcmi": frozenset({"host", "username", "password_file", "ipmi_tool"}),
}
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               tuple: "a list of strings"}
EXTRA_ROLES = ("sum", "beside")


def _unknown_key(name: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"[{name}] has an unknown key {key!r}{hint}"


def _foreign_keys(name: str, table: dict[str, Any]) -> list[str]:
    """Keys that belong to another meter type than the table's ``type``."""
    meter_type = table.get("type", AnalyzerConfig.type)
    own = METER_KEYS.get(meter_type) if isinstance(meter_type, str) else None
    if own is None:
        return []  # an unknown type is reported by validate()
    return [f"[{name}] {key} is not a key of type {meter_type!r} meters"
            for key in table if key not in own and key not in COMMON_METER_KEYS
            and any(key in keys for keys in METER_KEYS.values())]


def _value(name: str, key: str, value: Any, expected: type) -> tuple[Any, str | None]:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = tuple(value)
    if type(value) is not expected:
        return value, (f"[{name}] {key} must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
                       f"not {type(value).__name__} {value!r}")
    return value, None


def section_from_table(cls: type[Section], name: str, table: Any, problems: list[str]) -> Section | None:
    """The section from its TOML table; every problem with its keys and value types is added
    to ``problems`` (None then)."""
    if not isinstance(table, dict):
        problems.append(f"[{name}] must be a table")
        return None
    known = [f.name for f in fields(cls)]
    found = [_unknown_key(name, key, known) for key in table if key not in known]
    if cls is AnalyzerConfig:
        found += _foreign_keys(name, table)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in known:
            values[key], problem = _value(name, key, value, type(getattr(cls(), key)))
            found += [problem] if problem else []
    problems += found
    return None if found else cls(**values)


def extra_analyzers(tables: Any, problems: list[str]) -> tuple[tuple[str, AnalyzerConfig], ...]:
    """``[[extra_analyzer]]`` tables: an analyzer's keys plus ``role = "sum" | "beside"``."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append("extra_analyzer must be an array of tables: [[extra_analyzer]]")
        return ()
    extras = []
    for table in tables:
        keys = dict(table)
        role = keys.pop("role", None)
        if role not in EXTRA_ROLES:
            problems.append(f"[[extra_analyzer]] role must be 'sum' or 'beside', not {role!r}")
        meter = section_from_table(AnalyzerConfig, "extra_analyzer", keys, problems)
        if meter is not None and role in EXTRA_ROLES:
            extras.append((str(role), meter))
    return tuple(extras)
