"""The PTDaemon simulator's state: a multichannel reading split over its inputs, the range
settings, and a measurement's running tallies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.sample import Channel, Sample


def split_reading(
    t_ns: int, watts: float, volts: float, amps: float, pf: float, shares: tuple[float, ...]
) -> Sample:
    """A multichannel sample: the reading shared by the inputs; the sum group's volts, amps
    and PF are -1 as PTDaemon 1.9 writes them. An input with share 0 is unused: all zeros
    (inferred: no real log with an unwired element was found); one with a negative share
    fails: PTDaemon's error reading, -1."""
    parts = tuple(
        Channel(watts * share, volts, amps * share, pf) if share > 0
        else Channel(0.0, 0.0, 0.0, 0.0) if share == 0 else Channel(-1.0, -1.0, -1.0, -1.0)
        for share in shares
    )
    return Sample(t_ns, watts, -1.0, -1.0, -1.0, parts)


@dataclass
class RangeState:
    volts: float | None = None  # None: auto
    amps: float | None = None
    auto_volts_pick: float = -1.0
    auto_amps_pick: float = -1.0

    def in_use(self) -> tuple[float, float]:
        volts = self.volts if self.volts is not None else self.auto_volts_pick
        amps = self.amps if self.amps is not None else self.auto_amps_pick
        return volts, amps


@dataclass
class Tally:
    """Count, sum, min and max of the values that passed a test, and how many were offered
    (a long fast measurement has millions of samples: keep no list of them)."""

    offered: int = 0
    kept: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    above_limit: int = 0

    def add(
        self, values: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_], limit: float = math.inf
    ) -> None:
        kept = values[keep]
        self.offered += len(values)
        self.kept += len(kept)
        if len(kept):
            self.total += float(kept.sum())
            self.low = min(self.low, float(kept.min()))
            self.high = max(self.high, float(kept.max()))
            self.above_limit += int((kept > limit).sum())


@dataclass
class Measurement:
    mark: str
    interval_ms: int
    t0_ns: int
    watts: Tally = field(default_factory=Tally)  # valid: > 0
    uncertainty: Tally = field(default_factory=Tally)  # known: finite
    polls: int = 0
