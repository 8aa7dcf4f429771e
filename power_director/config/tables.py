"""From TOML tables to config sections: unknown keys (with the near-miss suggested), keys of
another meter type, and values of the wrong type, every one of them listed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from power_director.config.meters import DEFAULT_TYPE, METER_TYPES, AnalyzerConfig, all_meter_keys


class _Dataclass(Protocol):
    __dataclass_fields__: ClassVar[dict[str, Any]]


Section = TypeVar("Section", bound=_Dataclass)
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               tuple: "a list of strings"}
EXTRA_ROLES = ("sum", "beside")
Role = Literal["sum", "beside"]


@dataclass(frozen=True)
class ExtraAnalyzer:
    """An ``[[extra_analyzer]]``: "sum" meters add to the wall power, "beside" meters are shown
    next to it."""

    role: Role
    meter: AnalyzerConfig


def _unknown_key(name: str, key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"[{name}] has an unknown key {key!r}{hint}"


def _value(name: str, key: str, value: Any, expected: type) -> tuple[Any, str | None]:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if expected is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = tuple(value)
    if type(value) is not expected:
        return value, (f"[{name}] {key} must be {_TYPE_NAMES.get(expected, expected.__name__)}, "
                       f"not {type(value).__name__} {value!r}")
    return value, None


def _values(cls: type[Section], name: str, table: dict[str, Any], found: list[str]) -> dict[str, Any]:
    """The table's values for ``cls`` (every key of the table one of its fields), type-checked."""
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in table.items():
        values[key], problem = _value(name, key, value, type(getattr(defaults, key)))
        found += [problem] if problem else []
    return values


def section_from_table(cls: type[Section], name: str, table: Any, problems: list[str]) -> Section | None:
    """The section from its TOML table; every problem with its keys and value types is added
    to ``problems`` (None then)."""
    if not isinstance(table, dict):
        problems.append(f"[{name}] must be a table")
        return None
    known = [f.name for f in fields(cls)]
    found = [_unknown_key(name, key, known) for key in table if key not in known]
    values = _values(cls, name, {k: v for k, v in table.items() if k in known}, found)
    problems += found
    return None if found else cls(**values)


def meter_from_table(name: str, table: Any, problems: list[str]) -> AnalyzerConfig | None:
    """The meter a table describes (its ``type`` picks the registry's class): unknown keys,
    keys of another meter type and values of the wrong type are added to ``problems``."""
    if not isinstance(table, dict):
        problems.append(f"[{name}] must be a table")
        return None
    keys = dict(table)
    meter_type = keys.pop("type", DEFAULT_TYPE)
    cls = METER_TYPES.get(meter_type) if isinstance(meter_type, str) else None
    everyone = all_meter_keys()
    found = [_unknown_key(name, key, sorted(everyone)) for key in keys if key not in everyone]
    if cls is None:
        problems += [f"[analyzer] type {meter_type!r} is not known; use one of {', '.join(METER_TYPES)}",
                     *found]
        return None
    own = {f.name for f in fields(cls)}
    found += [f"[{name}] {key} is not a key of type {meter_type!r} meters"
              for key in keys if key in everyone and key not in own]
    values = _values(cls, name, {k: v for k, v in keys.items() if k in own}, found)
    problems += found
    return None if found else cls(**values)


def extra_analyzers(tables: Any, problems: list[str]) -> tuple[ExtraAnalyzer, ...]:
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
        meter = meter_from_table("extra_analyzer", keys, problems)
        if meter is not None and (role == "sum" or role == "beside"):
            extras.append(ExtraAnalyzer(role, meter))
    return tuple(extras)
