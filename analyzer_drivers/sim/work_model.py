"""A power model that follows the work a SUT has in hand, not CPU scheduling.

The demo's SUT reports the queries LoadGen issues to it and those it completes. The
simulated meter reads idle watts plus ``busy_watts`` for the share of time the SUT had a
query in flight (or finished one under ``hold_s`` ago: real hardware does not drop to idle
between two back-to-back queries). Other programs on a busy machine can take CPU from the
SUT without moving this power; only the work's own timing (how long LoadGen's run lasts,
how many queries it completes) moves the results.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer_drivers.sim.models import Reading, Readings


@dataclass
class WorkModel:
    """``idle_watts`` + ``busy_watts`` × the share of time with work in flight, with noise.

    Call :meth:`issue` and :meth:`complete` from the SUT (any thread). The defaults are the
    demo's machine: 60 W idle, 70 W more with one of two cores at work (140 W for both).
    """

    idle_watts: float = 60.0
    busy_watts: float = 70.0
    hold_s: float = 0.02
    volts: float = 230.0
    pf: float = 0.95
    noise_fraction: float = 0.005
    seed: int | None = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._batch_rng = np.random.default_rng(self.seed)
        now_ns = time.monotonic_ns()
        self._in_flight = 0
        self._last_done_ns = now_ns - 10**12  # long idle
        self._counted_to_ns = now_ns  # busy time is accounted up to here
        self._busy_ns = 0
        self._read = (now_ns, 0)  # (time, busy_ns) at the last reading
        self._last_watts = self.idle_watts

    def issue(self, queries: int = 1) -> None:
        with self._lock:
            self._account(time.monotonic_ns())
            self._in_flight += queries

    def complete(self, queries: int = 1) -> None:
        with self._lock:
            now_ns = time.monotonic_ns()
            self._account(now_ns)
            self._in_flight = max(self._in_flight - queries, 0)
            self._last_done_ns = now_ns

    def _account(self, now_ns: int) -> None:
        """Add the busy time since the last event: all of it with work in flight, else until
        ``hold_s`` after the last completion."""
        if self._in_flight > 0:
            self._busy_ns += now_ns - self._counted_to_ns
        else:
            busy_until_ns = self._last_done_ns + int(self.hold_s * 1e9)
            self._busy_ns += max(0, min(now_ns, busy_until_ns) - self._counted_to_ns)
        self._counted_to_ns = now_ns

    def _watts(self) -> float:
        """Mean power since the previous reading."""
        with self._lock:
            now_ns = time.monotonic_ns()
            self._account(now_ns)
            busy_ns = self._busy_ns
        read_ns, read_busy_ns = self._read
        if now_ns - read_ns < 1_000_000:  # under 1 ms: too short to average, keep the last
            return self._last_watts
        self._read = (now_ns, busy_ns)
        share = min(max((busy_ns - read_busy_ns) / (now_ns - read_ns), 0.0), 1.0)
        self._last_watts = self.idle_watts + self.busy_watts * share
        return self._last_watts

    def reading(self, t_ns: int) -> Reading:
        watts = self._watts() * (1.0 + self._rng.gauss(0.0, self.noise_fraction))
        volts = self.volts * (1.0 + self._rng.gauss(0.0, self.noise_fraction / 5))
        return Reading(watts=watts, volts=volts, amps=watts / (volts * self.pf), pf=self.pf)

    def readings(self, t_ns: npt.NDArray[np.int64]) -> Readings:
        noise = self._batch_rng.normal(0.0, self.noise_fraction, (2, len(t_ns)))
        watts = np.maximum(self._watts() * (1.0 + noise[0]), 0.1)
        volts = self.volts * (1.0 + noise[1] / 5)
        return Readings(watts, volts, watts / (volts * self.pf), np.full(len(t_ns), self.pf))
