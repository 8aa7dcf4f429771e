"""Reading ``report.json`` back: typed getters that name the key at fault in one line.

The one seam where a report is untyped JSON: every reader of a ``report.json`` on disk goes
through ``reports.model.report.SessionReport.from_json``, which uses these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from analyzer_drivers.formats.errors import ReportError

#: A JSON object as ``json.loads`` gives it, read-only: the shape of a section kept as JSON.
JsonObject = Mapping[str, Any]
#: What ``json.dumps`` writes: ``to_json`` builds these.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonDict = dict[str, JsonValue]


class Fields:
    """One JSON object of a report, read leniently: a missing key is its default, a key of the
    wrong type is a ``ReportError`` naming it (``where.key``)."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ReportError(f"report.json: {where or 'the report'} is not an object")
        self.data: JsonObject = data
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _bad(self, key: str, what: str) -> ReportError:
        return ReportError(f"report.json: {self._name(key)} is not {what}: {self.data[key]!r:.60}")

    def has(self, key: str) -> bool:
        return key in self.data

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(key, "a number")
        return value

    def real(self, key: str, default: float = 0.0) -> float:
        value = self.number(key)
        return default if value is None else value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer")
        return value

    def count(self, key: str) -> int:
        value = self.integer(key)
        return 0 if value is None else value

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return tuple(value)

    def items(self, key: str) -> list[object]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return value

    def obj(self, key: str) -> JsonObject | None:
        """A nested object kept as JSON (its shape is open: the HTML shows unknown keys)."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self._bad(key, "an object")
        return value

    def sub(self, key: str) -> Fields | None:
        value = self.data.get(key)
        return None if value is None else Fields(value, self._name(key))


def json_list(values: Iterable[JsonValue]) -> list[JsonValue]:
    return [*values]


def json_dict(values: Mapping[str, Any]) -> JsonDict:
    """A copy of a section kept as JSON (a mapping read back, or a dict another module built)."""
    return dict(values)
