"""Power models: what a simulated meter reads at a given time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import psutil


@dataclass(frozen=True, slots=True)
class Reading:
    watts: float
    volts: float
    amps: float
    pf: float


class PowerModel(Protocol):
    def reading(self, t_ns: int) -> Reading: ...


def _reading(watts: float, volts: float, pf: float) -> Reading:
    return Reading(watts=watts, volts=volts, amps=watts / (volts * pf), pf=pf)


@dataclass
class CpuUtilisationModel:
    """Idle watts plus dynamic watts × this machine's real CPU utilisation, with noise."""

    idle_watts: float = 60.0
    dynamic_watts: float = 140.0
    volts: float = 230.0
    pf: float = 0.95
    noise_fraction: float = 0.005
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        psutil.cpu_percent(interval=None)  # the first call only primes the counter

    def reading(self, t_ns: int) -> Reading:
        utilisation = psutil.cpu_percent(interval=None) / 100.0
        watts = (self.idle_watts + self.dynamic_watts * utilisation) * (
            1.0 + self._rng.gauss(0.0, self.noise_fraction)
        )
        volts = self.volts * (1.0 + self._rng.gauss(0.0, self.noise_fraction / 5))
        return _reading(max(watts, 0.1), volts, self.pf)


@dataclass
class ScheduleModel:
    """Piecewise-constant power: ``steps`` are (from_t_ns, watts), sorted by time."""

    steps: Sequence[tuple[int, float]]
    volts: float = 230.0
    pf: float = 1.0

    def reading(self, t_ns: int) -> Reading:
        watts = self.steps[0][1]
        for from_t_ns, step_watts in self.steps:
            if t_ns < from_t_ns:
                break
            watts = step_watts
        return _reading(watts, self.volts, self.pf)


def constant_model(watts: float, volts: float = 230.0, pf: float = 1.0) -> ScheduleModel:
    return ScheduleModel(steps=[(0, watts)], volts=volts, pf=pf)
