"""Power models: what a simulated meter reads at a given time."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import psutil

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Reading:
    watts: float
    volts: float
    amps: float
    pf: float


@dataclass(frozen=True, slots=True)
class Readings:
    """Many readings as columns: what a fast-sampling simulator takes per wake-up."""

    watts: FloatArray
    volts: FloatArray
    amps: FloatArray
    pf: FloatArray

    @classmethod
    def of(cls, readings: Sequence[Reading]) -> Readings:
        def column(name: str) -> FloatArray:
            return np.array([getattr(r, name) for r in readings], dtype=np.float64)

        return cls(column("watts"), column("volts"), column("amps"), column("pf"))


class PowerModel(Protocol):
    def reading(self, t_ns: int) -> Reading: ...


@runtime_checkable
class BatchPowerModel(Protocol):
    def readings(self, t_ns: npt.NDArray[np.int64]) -> Readings: ...


def readings_at(model: PowerModel, t_ns: npt.NDArray[np.int64]) -> Readings:
    """The model's readings at each time: in one vectorised call where the model has one."""
    if isinstance(model, BatchPowerModel):
        return model.readings(t_ns)
    return Readings.of([model.reading(int(t)) for t in t_ns])


def _reading(watts: float, volts: float, pf: float) -> Reading:
    return Reading(watts=watts, volts=volts, amps=watts / (volts * pf), pf=pf)


def _readings(watts: FloatArray, volts: FloatArray, pf: float) -> Readings:
    return Readings(watts, volts, watts / (volts * pf), np.full(len(watts), pf))


SCOPES = ("system", "process", "steady")
STEADY_UTILISATION = 0.5


@dataclass
class CpuUtilisationModel:
    """Idle watts plus dynamic watts × real CPU utilisation, with noise.

    ``scope="system"`` follows the whole machine, as a wall meter would; ``"process"``
    follows only this process's demand for CPU (the demo, whose LoadGen SUT runs
    in-process): time its threads were running or waiting to run, where Linux tells it, so
    other programs on a shared machine do not move its result by taking CPU from it;
    ``"steady"`` follows nothing: the machine counts as half busy whatever it does, so the
    simulators' default load is the same in ranging and testing on a shared machine.
    """

    idle_watts: float = 60.0
    dynamic_watts: float = 140.0
    volts: float = 230.0
    pf: float = 0.95
    noise_fraction: float = 0.005
    seed: int | None = None
    scope: str = "system"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope is one of {', '.join(SCOPES)}, not {self.scope!r}")
        self._rng = random.Random(self.seed)
        self._batch_rng = np.random.default_rng(self.seed)
        self._process = psutil.Process()
        self._demand = _ProcessDemand()
        self._utilisation()  # the first call only primes the counter

    def _utilisation(self) -> float:
        if self.scope == "steady":
            return STEADY_UTILISATION
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

    def readings(self, t_ns: npt.NDArray[np.int64]) -> Readings:
        """One utilisation for the whole batch (it is a rate since the last call), noise per sample."""
        utilisation = self._utilisation()
        noise = self._batch_rng.normal(0.0, self.noise_fraction, (2, len(t_ns)))
        watts = (self.idle_watts + self.dynamic_watts * utilisation) * (1.0 + noise[0])
        volts = self.volts * (1.0 + noise[1] / 5)
        return _readings(np.maximum(watts, 0.1), volts, self.pf)


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

    def readings(self, t_ns: npt.NDArray[np.int64]) -> Readings:
        starts = np.array([from_t_ns for from_t_ns, _ in self.steps], dtype=np.int64)
        levels = np.array([step_watts for _, step_watts in self.steps], dtype=np.float64)
        step = np.maximum(np.searchsorted(starts, t_ns, side="right") - 1, 0)
        return _readings(levels[step], np.full(len(t_ns), self.volts), self.pf)


def constant_model(watts: float, volts: float = 230.0, pf: float = 1.0) -> ScheduleModel:
    return ScheduleModel(steps=[(0, watts)], volts=volts, pf=pf)


@dataclass
class WaveModel:
    """A sine load on the absolute clock, so two simulators in different processes see the
    same load: ``idle_watts + amplitude_watts × sin(2π t / period_s)``. A reading is the mean
    over the ``averaging_s`` before ``t`` (a real meter averages; 0: the instant value)."""

    idle_watts: float = 150.0
    amplitude_watts: float = 50.0
    period_s: float = 10.0
    averaging_s: float = 0.0
    volts: float = 230.0
    pf: float = 1.0

    def mean_watts(self, start_ns: float, end_ns: float) -> float:
        """The exact mean power over ``[start_ns, end_ns]``."""
        omega = 2 * np.pi / self.period_s
        a, b = start_ns / 1e9 % self.period_s, end_ns / 1e9 % self.period_s
        span = (end_ns - start_ns) / 1e9
        if span <= 0:
            return self.idle_watts + self.amplitude_watts * float(np.sin(omega * b))
        b = a + span
        swing = float(np.cos(omega * a) - np.cos(omega * b)) / (omega * span)
        return self.idle_watts + self.amplitude_watts * swing

    def reading(self, t_ns: int) -> Reading:
        return _reading(self.mean_watts(t_ns - self.averaging_s * 1e9, t_ns), self.volts, self.pf)
