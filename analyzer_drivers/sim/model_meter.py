"""A simulated meter read in-process: a power model sampled on a fixed grid, no protocol.

For scale (a meter agent with a hundred simulated meters, bench/fleet.py): the PTDaemon-protocol
simulator is the faithful one, this one costs next to nothing per sample.
"""

from __future__ import annotations

import time

import numpy as np

from analyzer_drivers.base import AnalyzerInfo, RangelessAnalyzer
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.sim.models import PowerModel, readings_at


class ModelMeter(RangelessAnalyzer):
    def __init__(self, model: PowerModel, name: str = "model") -> None:
        self.model = model
        self.name = f"model-{name}"
        self._interval_ns = 1_000_000_000
        self._next_ns: int | None = None

    async def connect(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        self._next_ns = None

    async def identify(self) -> AnalyzerInfo:
        return AnalyzerInfo(name=self.name, model="SIM", averaging_ms=self._interval_ns // 1_000_000,
                            version="model")

    async def start(self, mark: str, interval_ms: int) -> None:
        self._interval_ns = interval_ms * 1_000_000
        self._next_ns = time.time_ns() + self._interval_ns

    async def poll(self) -> list[Sample]:
        """A sample for every interval that ended since the last poll, stamped at its end."""
        if self._next_ns is None:
            return []
        now_ns = time.time_ns()
        if now_ns < self._next_ns:
            return []
        count = (now_ns - self._next_ns) // self._interval_ns + 1
        t_ns = self._next_ns + self._interval_ns * np.arange(count, dtype=np.int64)
        self._next_ns = int(t_ns[-1]) + self._interval_ns
        readings = readings_at(self.model, t_ns)
        return [Sample(int(t), float(w), float(v), float(a), float(p)) for t, w, v, a, p in zip(
            t_ns, readings.watts, readings.volts, readings.amps, readings.pf, strict=True)]

    async def stop(self) -> None:
        self._next_ns = None
