"""What a driver states about its meter, as records a session keeps: a comparison-grade meter's
stated accuracy and a saved calibration against a certified analyzer (``session.json``'s
``analyzers[]``; ``power-director calibrate``'s file), and what a remote meter's last measurement
left beyond its samples (``phases.X.meters.D``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from analyzer_drivers.formats.json_record import (
    JsonRecord,
    anything,
    integer,
    json_object,
    list_of,
    number,
    optional,
    record,
    text,
)
from analyzer_drivers.formats.json_record import json_field as _field

_num, _str, _int = optional(number), optional(text), optional(integer)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatedAccuracy(JsonRecord):
    """A comparison-grade meter's (a plug's) stated accuracy."""

    reading: float | None = _field(_num)  # a fraction of the reading
    resolution_watts: float | None = _field(_num)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SavedCalibration(JsonRecord):
    """A meter's ``other = offset + gain × certified`` fit from a session where it ran beside a
    certified analyzer (``reports.crossval``), as ``power-director calibrate`` saves it."""

    meter: str | None = _field(_str)  # the driver's name
    name: str | None = _field(_str)
    offset_watts: float | None = _field(_num)
    gain: float | None = _field(_num)
    lag_s: float | None = _field(_num)
    correlation: float | None = _field(_num)
    energy_difference_pct: float | None = _field(_num)
    from_session: str | None = _field(_str)
    reference: str | None = _field(_str)  # the certified analyzer's name
    created: str | None = _field(_str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeterClock(JsonRecord):
    """A remote meter's clock against the director's (``phases.X.meters.D.clock``)."""

    offset_ns: int | None = _field(_int)
    bound_ns: int | None = _field(_int)
    drift_ppm: float | None = _field(_num)
    batches: int | None = _field(_int)  # the clock batches the estimate is made of


@dataclasses.dataclass(frozen=True, kw_only=True)
class Latency(JsonRecord):
    """A stream's sample latency (sampled to received), in ms."""

    median: float | None = _field(_num)
    max: float | None = _field(_num)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeterEvidence(JsonRecord):
    """What a phase kept of a remote meter beyond its samples (losses, replays, its clock)."""

    agent: str | None = _field(_str)
    meter: str | None = _field(_str)
    received: int | None = _field(_int)
    duplicates: int | None = _field(_int)
    replayed: int | None = _field(_int)
    lost: int | None = _field(_int)
    forged: int | None = _field(_int)  # messages refused: unsigned, wrongly signed, an older epoch
    forged_why: Mapping[str, Any] | None = _field(optional(json_object))
    agent_restarts: int | None = _field(_int)
    broker_outages: tuple[Any, ...] | None = _field(optional(list_of(anything)))
    clock: MeterClock | None = _field(optional(record(MeterClock)))
    latency_ms: Latency | None = _field(optional(record(Latency)))
    uncertainty_mean: float | None = _field(_num)
