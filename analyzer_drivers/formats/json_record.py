"""Typed records over a JSON object that write back exactly the object they were read from.

A record is a frozen dataclass whose fields are the keys it knows, each with a parser that
checks the value's type (a wrong type is a one-line ``ReportError``, never a traceback). It
remembers which keys the object had, in their order, and carries the keys it does not know
unchanged, so ``from_json(obj).to_json() == obj`` for every object it accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from analyzer_drivers.formats.errors import ReportError

T = TypeVar("T")
R = TypeVar("R", bound="JsonRecord")
Parse = Callable[[Any, str], Any]  # (JSON value, where it is) → typed value, or ReportError


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _wrong(value: object, where: str, expected: str) -> ReportError:
    return ReportError(f"{where} is {_type_name(value)}, not {expected}")


def child(where: str, key: object) -> str:
    """Where a member is: ``session.json: phases.testing.mark``."""
    return f"{where}: {key}" if where.endswith(".json") else f"{where}.{key}"


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(value, where, "a string")
    return value


def integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(value, where, "an integer")
    return value


def number(value: Any, where: str) -> float:
    """An int or a float, kept as it is (so ``1000`` writes back as ``1000``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(value, where, "a number")
    return value


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(value, where, "true or false")
    return value


def anything(value: Any, where: str) -> Any:
    """A value whose shape is someone else's (a driver's, the v3 wire protocol's): kept as is."""
    return value


def json_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(value, where, "an object")
    return value


def pair(value: Any, where: str) -> tuple[float, float]:
    """``[low, high]``: two numbers."""
    if not isinstance(value, list) or len(value) != 2:
        raise _wrong(value, where, "a [low, high] pair")
    return number(value[0], f"{where}[0]"), number(value[1], f"{where}[1]")


def optional(parse: Parse) -> Parse:
    def parse_optional(value: Any, where: str) -> Any:
        return None if value is None else parse(value, where)
    return parse_optional


def list_of(parse: Parse) -> Parse:
    def parse_list(value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _wrong(value, where, "a list")
        return tuple(parse(item, f"{where}[{k}]") for k, item in enumerate(value))
    return parse_list


def map_of(parse: Parse) -> Parse:
    def parse_map(value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise _wrong(value, where, "an object")
        return {str(key): parse(item, child(where, key)) for key, item in value.items()}
    return parse_map


def record(cls: type[R]) -> Parse:
    def parse_record(value: Any, where: str) -> R:
        return cls.from_json(value, where)
    return parse_record


def plain(cls: type[T], parsers: Mapping[str, Parse], defaults: Mapping[str, Any]) -> Parse:
    """A plain frozen dataclass (a computed figure such as an energy, not a record) read from an
    object by its field names: a missing key takes its default; ``dump`` writes every field."""
    def parse_plain(value: Any, where: str) -> T:
        data = json_object(value, where)
        return cls(**{name: parse(data[name], child(where, name)) if name in data else defaults[name]
                      for name, parse in parsers.items()})
    return parse_plain


def known(
    parse: Parse, key: str | None = None, omit_none: bool = False, write: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """A field's metadata: its parser, its JSON key when it differs from the field's name,
    whether a record we build leaves the key out while the value is None (or an empty list),
    and how to write it when ``dump`` does not (a list written as an object, say)."""
    return {"parse": parse, "key": key, "omit_none": omit_none, "write": write}


def json_field(
    parse: Parse, default: Any = None, key: str | None = None, *, omit_none: bool = False,
    write: Callable[[Any], Any] | None = None,
) -> Any:
    """A record's field read with ``parse`` (see ``known``); a missing key takes ``default``."""
    return dataclasses.field(default=default, metadata=known(parse, key, omit_none, write))


def dump(value: Any) -> Any:
    """A typed value back to JSON's shapes (records and dataclasses to objects, tuples to lists)."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [dump(item) for item in value]
    if isinstance(value, Mapping):
        return {key: dump(item) for key, item in value.items()}
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class JsonRecord:
    """The base of every record: the keys the object had (in order) and the ones we don't know.

    A record built in code (``json_keys`` None) writes no key (session.json's records are built
    with ``new``), or, where ``json_whole`` (report.json's), its known keys in ``json_order``
    (default: the fields' order), less those marked ``omit_none`` whose value is None."""

    json_keys: tuple[str, ...] | None = dataclasses.field(default=None, compare=False)
    json_unknown: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: The keys a built record writes, in order (empty: the fields' order).
    json_order: ClassVar[tuple[str, ...]] = ()
    json_whole: ClassVar[bool] = False

    def written_keys(self) -> tuple[str, ...]:
        """The keys ``to_json`` writes, in order: those read, or a built record's."""
        if self.json_keys is not None or not self.json_whole:
            return self.json_keys or ()
        omit = {f.name for f in dataclasses.fields(self) if f.metadata.get("omit_none")}
        keys = self._keys()
        names = self.json_order or tuple(keys)
        kept = tuple(keys[n] for n in names if not (n in omit and getattr(self, n) in (None, ())))
        return kept + tuple(self.json_unknown)

    @classmethod
    def _keys(cls) -> dict[str, str]:
        """Field name → JSON key, for the fields a record knows."""
        return {f.name: f.metadata["key"] or f.name for f in dataclasses.fields(cls) if "parse" in f.metadata}

    @classmethod
    def _fields(cls) -> dict[str, tuple[str, Parse]]:
        """JSON key → (field name, parser), for the fields a record knows."""
        out = {}
        for f in dataclasses.fields(cls):
            if "parse" in f.metadata:
                out[f.metadata["key"] or f.name] = (f.name, f.metadata["parse"])
        return out

    @classmethod
    def from_json(cls: type[R], data: Any, where: str = "session.json") -> R:
        if not isinstance(data, dict):
            raise _wrong(data, where, "an object")
        fields = cls._fields()
        values: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, value in data.items():
            if key in fields:
                name, parse = fields[key]
                values[name] = parse(value, child(where, key))
            else:
                unknown[key] = value
        return cls(json_keys=tuple(data), json_unknown=unknown, **values)

    @classmethod
    def new(cls: type[R], **values: Any) -> R:
        """A record as we write it: its keys in the order given."""
        keys = cls._keys()
        return cls(json_keys=tuple(keys[name] for name in values), **values)

    def updated(self: R, **changes: Any) -> R:
        """A copy with ``changes``; a key the object did not have yet goes at its end."""
        keys = self._keys()
        written = self.written_keys()
        added = tuple(keys[name] for name in changes if keys[name] not in written)
        return dataclasses.replace(self, json_keys=written + added, **changes)

    def has(self, key: str) -> bool:
        """Whether the object has ``key`` (a field left at its default may be absent)."""
        return key in self.written_keys()

    def to_json(self) -> dict[str, Any]:
        fields = self._fields()
        writers = {f.name: f.metadata["write"] for f in dataclasses.fields(self) if f.metadata.get("write")}
        out = {}
        for key in self.written_keys():
            if key not in fields:
                out[key] = self.json_unknown.get(key)
                continue
            name = fields[key][0]
            out[key] = writers.get(name, dump)(getattr(self, name))
        return out
