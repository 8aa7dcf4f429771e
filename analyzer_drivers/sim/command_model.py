"""A power model for ``measure --meter sim``: power follows the measured command's declared
load, never the machine's CPU, so the same command reads the same power on a busy machine.

Idle watts while no command runs; ``idle_watts + busy_watts × load`` while one does. ``load``
starts at ``default_load`` (the ``POWER_DIRECTOR_SIM_LOAD`` environment variable of the
director, else 1.0) for each command and the command may change it from inside with a
``sim-load X`` line on its marks channel (docs/efficiency-comparisons.md). Each reading is the
mean over exactly the interval before its stamp, as a meter's averaged sample is.
"""

from __future__ import annotations

import bisect
import os
import random
import threading
import time
from dataclasses import dataclass, field

from analyzer_drivers.formats.errors import PowerDirectorError
from analyzer_drivers.sim.models import Reading

SIM_LOAD_ENV = "POWER_DIRECTOR_SIM_LOAD"


class SimLoadError(PowerDirectorError):
    """A simulated load outside 0..1, or not a number."""


def parse_load(text: str, where: str) -> float:
    """A load share 0..1 from text; a one-line error naming ``where`` otherwise."""
    try:
        load = float(text)
    except ValueError:
        raise SimLoadError(f"{where}: the simulated load is a number from 0 to 1, not {text!r}") from None
    if not 0.0 <= load <= 1.0:
        raise SimLoadError(f"{where}: the simulated load is a number from 0 to 1, not {text!r}")
    return load


def default_load() -> float:
    text = os.environ.get(SIM_LOAD_ENV)
    return 1.0 if text is None else parse_load(text, SIM_LOAD_ENV)


class _Reader:
    """One meter's position on the load timeline: each reading averages from its last stamp."""

    def __init__(self) -> None:
        self.last_t_ns: int | None = None


@dataclass
class CommandModel:
    """``idle_watts`` + ``busy_watts`` × the command's load while a command runs, with noise."""

    idle_watts: float = 60.0
    busy_watts: float = 70.0
    default_load: float = 1.0
    interval_ms: int = 100  # what the first reading averages over
    volts: float = 230.0
    pf: float = 0.95
    noise_fraction: float = 0.002
    seed: int | None = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # The load's changes, UTC epoch ns: a reading stamped t averages over exactly the
        # interval before t, however late the simulator's sampler woke to take it.
        self._times: list[int] = [0]
        self._loads: list[float] = [0.0]
        self._reader = _Reader()

    def reader(self) -> _Reader:
        return _Reader()

    def _set(self, load: float) -> None:
        with self._lock:
            self._times.append(time.time_ns())
            self._loads.append(load)

    def command_started(self) -> None:
        self._set(self.default_load)

    def command_ended(self) -> None:
        self._set(0.0)

    def set_load(self, load: float) -> None:
        """From the command's ``sim-load X`` line: its load from now on (0..1)."""
        self._set(parse_load(str(load), "sim-load"))

    def _mean_load(self, begin_ns: int, end_ns: int) -> float:
        with self._lock:
            times, loads = list(self._times), list(self._loads)
        first = max(bisect.bisect_right(times, begin_ns) - 1, 0)
        total = 0.0
        for k in range(first, len(times)):
            start = max(times[k], begin_ns)
            stop = min(times[k + 1], end_ns) if k + 1 < len(times) else end_ns
            if stop > start:
                total += loads[k] * (stop - start)
        return total / (end_ns - begin_ns)

    def energy_j(self, begin_ns: int, end_ns: int) -> float:
        """What the load drew over ``[begin_ns, end_ns]`` (UTC epoch ns), noise-free: the
        answer a session's figures over that window are checked against."""
        mean_watts = self.idle_watts + self.busy_watts * self._mean_load(begin_ns, end_ns)
        return mean_watts * (end_ns - begin_ns) / 1e9

    def share(self, reader: _Reader, t_ns: int) -> float:
        """The mean load over the interval before ``t_ns`` (since ``reader``'s last reading)."""
        interval_ns = self.interval_ms * 1_000_000
        begin_ns = t_ns - interval_ns
        if reader.last_t_ns is not None and begin_ns - interval_ns < reader.last_t_ns < t_ns:
            begin_ns = reader.last_t_ns  # a new measurement starts from one interval
        reader.last_t_ns = t_ns
        return self._mean_load(begin_ns, t_ns) if t_ns > begin_ns else 0.0

    def noisy(self, watts: float) -> Reading:
        watts *= 1.0 + self._rng.gauss(0.0, self.noise_fraction)
        volts = self.volts * (1.0 + self._rng.gauss(0.0, self.noise_fraction / 5))
        return Reading(watts=watts, volts=volts, amps=watts / (volts * self.pf), pf=self.pf)

    def reading(self, t_ns: int) -> Reading:
        return self.noisy(self.idle_watts + self.busy_watts * self.share(self._reader, t_ns))


@dataclass
class EstimateModel:
    """A second simulated meter over the same command standing in for a software estimate
    (a CPU package counter sees part of the wall power): ``offset_watts + gain × busy × load``.
    With it the estimate-against-wall comparison runs with a known answer and no RAPL."""

    wall: CommandModel
    gain: float = 0.8
    offset_watts: float = 20.0

    def __post_init__(self) -> None:
        self._reader = self.wall.reader()

    def reading(self, t_ns: int) -> Reading:
        share = self.wall.share(self._reader, t_ns)
        return self.wall.noisy(self.offset_watts + self.gain * self.wall.busy_watts * share)
