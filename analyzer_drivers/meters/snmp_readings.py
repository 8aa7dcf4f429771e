"""SNMP polls to samples: the points a PDU driver reads and how a poll's integers become watts
(``analyzer_drivers.meters.snmp`` does the I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.formats.sample import ERROR_READING, Sample

STALE_UNITS = 2  # counter steps a frozen agent's counters must have missed


@dataclass(frozen=True, slots=True)
class Gate:
    """An object that says whether a point's reading exists: ``good`` values only, or not ``bad``."""

    oid: str
    good: frozenset[int] | None = None
    bad: frozenset[int] = frozenset()

    def allows(self, value: int | None) -> bool:
        if value is None:
            return True  # the agent has no such object: nothing says the reading is absent
        return value not in self.bad and (self.good is None or value in self.good)


@dataclass(frozen=True, slots=True)
class Point:
    """One outlet or inlet: its OIDs and how to turn raw integers into W and J."""

    label: str
    power_oid: str
    energy_oid: str | None
    watts_per_unit: float
    joules_per_unit: float
    wraps_at: int
    gates: tuple[Gate, ...] = ()
    time_oid: str | None = None


def _point_oids(point: Point) -> list[str]:
    return [point.power_oid, *(g.oid for g in point.gates)]


def _reading(point: Point, values: list[int | None]) -> bool:
    """Whether a GET of ``_point_oids(point)`` holds a reading (not -1, not gated off)."""
    power, gated = values[0], values[1:]
    return power is not None and power >= 0 and all(
        g.allows(v) for g, v in zip(point.gates, gated, strict=True)
    )


class PduReadings:
    """Polls to samples: the power sum, or with ``use_energy`` ΔE/Δt from the energy counters (a
    counter that went down has wrapped once). A missing or negative power value, or one a gate
    object marks unavailable, is an error reading (-1). Where the agent stamps its readings, a
    poll whose stamps all stand still is no new sample. Otherwise a steady load and a frozen agent
    look alike; where the points have energy counters, counters that stay still while the power
    read says they should have moved ``STALE_UNITS`` steps are a frozen agent: no new sample.

    A poll's values are ``oids(points)`` in order: powers, energies, gates, stamps."""

    def __init__(self, points: Sequence[Point], use_energy: bool = False) -> None:
        self.points = list(points)
        self.metered = [p for p in self.points if p.energy_oid]
        self.gates = [g for p in self.points for g in p.gates]
        self.stamped = [p for p in self.points if p.time_oid]
        self.use_energy = use_energy
        self._still: tuple[int, list[int]] | None = None  # since when the counters have not moved
        self._energy: tuple[int, list[int]] | None = None  # the last ΔE/Δt baseline
        self._stamps: list[int | None] | None = None

    @staticmethod
    def oids(points: Sequence[Point]) -> list[str]:
        return (
            [p.power_oid for p in points]
            + [p.energy_oid for p in points if p.energy_oid]
            + [g.oid for p in points for g in p.gates]
            + [p.time_oid for p in points if p.time_oid]
        )

    def accept(self, t_ns: int, values: list[int | None]) -> Sample | None:
        n, m, g = len(self.points), len(self.metered), len(self.gates)
        powers, energies = values[:n], values[n : n + m]
        gated, stamps = values[n + m : n + m + g], values[n + m + g :]
        if stamps:
            if stamps == self._stamps:
                return None  # the agent's own stamps say: the same reading again
            self._stamps = list(stamps)
        if any(v is None or v < 0 for v in powers) or not all(
            gate.allows(v) for gate, v in zip(self.gates, gated, strict=True)
        ):
            return Sample(t_ns, ERROR_READING)
        watts = sum(float(v or 0) * p.watts_per_unit for v, p in zip(powers, self.points, strict=True))
        counters = [int(e) for e in energies if e is not None and e >= 0]
        if len(counters) != len(self.metered) or not counters:
            return None if self.use_energy else Sample(t_ns, watts)
        if self._frozen(t_ns, watts, counters):
            return None
        return self._from_energy(t_ns, watts, counters) if self.use_energy else Sample(t_ns, watts)

    def _frozen(self, t_ns: int, watts: float, counters: list[int]) -> bool:
        if self._still is None or counters != self._still[1]:
            self._still = (t_ns, counters)
            return False
        unit_j = max(p.joules_per_unit for p in self.metered)
        return watts * (t_ns - self._still[0]) / 1e9 / unit_j > STALE_UNITS

    def _from_energy(self, t_ns: int, watts: float, counters: list[int]) -> Sample | None:
        previous = self._energy
        if previous is not None and counters == previous[1]:
            return None  # no new energy yet: wait for the counters to move
        self._energy = (t_ns, counters)
        if previous is None:
            return Sample(t_ns, watts)  # the counters' baseline: the power read with it
        joules = 0.0
        for old, new, point in zip(previous[1], counters, self.metered, strict=True):
            delta = new - old
            joules += (delta + point.wraps_at if delta < 0 else delta) * point.joules_per_unit
        span_s = (t_ns - previous[0]) / 1e9
        return Sample(t_ns, joules / span_s if span_s > 0 else math.nan)
