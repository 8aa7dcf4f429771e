"""A meter's reading as every package passes it: ``Sample`` (with its ``Channel``s) and
PTDaemon's sentinel values. Time is UTC epoch nanoseconds on the director's clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

# PTDaemon's sentinels for a sample value: an error reading and a missed sample.
ERROR_READING = -1.0
MISSED_SAMPLE = -2.0


@dataclass(frozen=True, slots=True)
class Channel:
    """One input element of a multichannel meter."""

    watts: float
    volts: float
    amps: float
    pf: float


@dataclass(frozen=True, slots=True)
class Sample:
    """One averaged reading. ``watts`` may hold a PTDaemon sentinel (-1, -2) or NaN.

    For a multichannel meter ``watts`` is the sum and ``channels`` holds each element.
    """

    t_ns: int
    watts: float
    volts: float = math.nan
    amps: float = math.nan
    pf: float = math.nan
    channels: tuple[Channel, ...] = ()

    @property
    def is_valid(self) -> bool:
        return math.isfinite(self.watts) and self.watts > 0
