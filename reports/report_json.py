"""``report.json``'s records: the declarative layer session.json uses
(``analyzer_drivers.formats.json_record``), with the defaults a report read back takes for the
keys an older file lacks. A key of the wrong type is one ``ReportError`` line naming it
(``report.json: testing.power.avg_watts is a string, not a number``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias, TypeVar

from analyzer_drivers.formats.json_record import (
    JsonRecord,
    Parse,
    flag,
    integer,
    json_field,
    known,
    list_of,
    map_of,
    number,
    optional,
    record,
    text,
)

#: A JSON object as ``json.loads`` gives it, read-only: the shape of a section kept as JSON.
JsonObject = Mapping[str, Any]
#: What ``json.dumps`` writes: ``to_json`` builds these.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonDict = dict[str, JsonValue]
R = TypeVar("R", bound=JsonRecord)
WHERE = "report.json"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportRecord(JsonRecord):
    """A part of ``report.json``: built in code, it writes every key it knows (in ``json_order``)."""

    json_whole = True

    @classmethod
    def from_json(cls: type[R], data: Any, where: str = WHERE) -> R:
        return super().from_json(data, where)


def key(
    parse: Parse, default: Any = None, *, name: str | None = None, omit_none: bool = False,
    write: Callable[[Any], Any] | None = None,
) -> Any:
    """A field read with ``parse``; a missing key takes ``default``."""
    return json_field(parse, default, name, omit_none=omit_none, write=write)


def real(default: float = 0.0) -> Any:
    return key(number, default)


def maybe_real(*, omit_none: bool = False) -> Any:
    return key(optional(number), None, omit_none=omit_none)


def count() -> Any:
    return key(integer, 0)


def maybe_int() -> Any:
    return key(optional(integer))


def words(default: str = "") -> Any:
    return key(text, default)


def maybe_text() -> Any:
    return key(optional(text))


def yes_no(default: bool = False) -> Any:
    return key(flag, default)


def texts() -> Any:
    return key(list_of(text), ())


def part(cls: type[JsonRecord]) -> Any:
    """A nested record; a missing key is the record's empty one."""
    return dataclasses.field(default_factory=cls, metadata=known(record(cls)))


def maybe_part(cls: type[JsonRecord], *, omit_none: bool = False) -> Any:
    return key(optional(record(cls)), None, omit_none=omit_none)


def parts(cls: type[JsonRecord]) -> Any:
    return key(list_of(record(cls)), ())


def named(parse: Parse) -> Any:
    """An object of name → value."""
    return dataclasses.field(default_factory=dict, metadata=known(map_of(parse)))


def json_list(values: Iterable[JsonValue]) -> list[JsonValue]:
    return [*values]


def json_dict(values: Mapping[str, Any]) -> JsonDict:
    """A copy of a section kept as JSON (a mapping read back, or a dict another module built)."""
    return dict(values)
