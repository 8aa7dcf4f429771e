"""Power models: what a simulated meter reads at a given time."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
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
    """Idle watts plus dynamic watts × real CPU utilisation, with noise.

    ``scope="system"`` follows the whole machine, as a wall meter would; ``"process"``
    follows only this process's demand for CPU (the demo, whose LoadGen SUT runs
    in-process): time its threads were running or waiting to run, where Linux tells it, so
    other programs on a shared machine do not move its result by taking CPU from it.
    """

    idle_watts: float = 60.0
    dynamic_watts: float = 140.0
    volts: float = 230.0
    pf: float = 0.95
    noise_fraction: float = 0.005
    seed: int | None = None
    scope: str = "system"

    def __post_init__(self) -> None:
        if self.scope not in ("system", "process"):
            raise ValueError(f"scope is 'system' or 'process', not {self.scope!r}")
        self._rng = random.Random(self.seed)
        self._process = psutil.Process()
        self._demand = _ProcessDemand()
        self._utilisation()  # the first call only primes the counter

    def _utilisation(self) -> float:
        if self.scope == "process":
            demand = self._demand.utilisation()
            if demand is not None:
                return demand
            busy = float(self._process.cpu_percent(interval=None)) / (psutil.cpu_count() or 1)
            return min(busy / 100.0, 1.0)
        return float(psutil.cpu_percent(interval=None)) / 100.0

    def reading(self, t_ns: int) -> Reading:
        utilisation = self._utilisation()
        watts = (self.idle_watts + self.dynamic_watts * utilisation) * (
            1.0 + self._rng.gauss(0.0, self.noise_fraction)
        )
        volts = self.volts * (1.0 + self._rng.gauss(0.0, self.noise_fraction / 5))
        return _reading(max(watts, 0.1), volts, self.pf)


class _ProcessDemand:
    """The share of all CPUs this process's threads wanted since the last call: time running or
    waiting on a run queue (Linux ``/proc/self/task/*/schedstat``). None where that is unreadable."""

    def __init__(self) -> None:
        self._last_ns: dict[str, int] = {}
        self._last_wall_ns = time.monotonic_ns()

    def utilisation(self) -> float | None:
        try:
            runnable_ns = {task.name: _runnable_ns(task) for task in Path("/proc/self/task").iterdir()}
        except (OSError, ValueError, IndexError):
            return None
        wall_ns, self._last_wall_ns = time.monotonic_ns() - self._last_wall_ns, time.monotonic_ns()
        spent_ns = sum(t - self._last_ns.get(task, 0) for task, t in runnable_ns.items())
        self._last_ns = runnable_ns
        return min(max(spent_ns / max(wall_ns, 1) / (os.cpu_count() or 1), 0.0), 1.0)


def _runnable_ns(task: Path) -> int:
    running_ns, waiting_ns = (task / "schedstat").read_text().split()[:2]
    return int(running_ns) + int(waiting_ns)


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
