"""Meters that are energy counters read in software (RAPL, NVML): watts = ΔE / Δt per interval.

They have no voltage, current or ranges: volts and amps are NaN, ``set_ranges`` does
nothing and ``get_ranges`` says auto.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.base import AnalyzerError, RangelessAnalyzer, SampleBuffer
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS


@dataclass(frozen=True, slots=True)
class Counter:
    """One energy counter: a name, its unit in joules, and where it wraps (None: never)."""

    name: str
    joules_per_unit: float
    wraps_at: int | None = None


def energy_delta_j(before: Sequence[int], after: Sequence[int], counters: Sequence[Counter]) -> float:
    """Joules between two readings of the counters; a counter that went down has wrapped once."""
    total_j = 0.0
    for old, new, counter in zip(before, after, counters, strict=True):
        delta = new - old
        if delta < 0:
            if counter.wraps_at is None:
                raise AnalyzerError(f"energy counter {counter.name} went backwards ({old} → {new})")
            delta += counter.wraps_at
        total_j += delta * counter.joules_per_unit
    return total_j


class EnergyCounterAnalyzer(RangelessAnalyzer, abc.ABC):
    """Samples a set of energy counters every interval; one sample = the mean watts since the last."""

    def __init__(self) -> None:
        self.counters: list[Counter] = []
        self._buffer = SampleBuffer()
        self._sampler: asyncio.Task[None] | None = None

    @abc.abstractmethod
    def read_counters(self) -> list[int]:
        """The raw value of every counter in ``self.counters``, in order. Raises AnalyzerError."""

    async def start(self, mark: str, interval_ms: int) -> None:
        if self._sampler is not None:
            raise AnalyzerError(f"{self.name}: a measurement is already running")
        first = (time.time_ns(), self.read_counters())
        self._buffer.clear()
        self._sampler = asyncio.get_running_loop().create_task(self._sample_loop(first, interval_ms))

    async def _sample_loop(self, previous: tuple[int, list[int]], interval_ms: int) -> None:
        t0_ns, interval_ns = previous[0], interval_ms * NS_PER_MS
        index = 1
        while True:
            await asyncio.sleep(max(0.0, (t0_ns + index * interval_ns - time.time_ns()) / 1e9))
            index += 1
            try:
                now = (time.time_ns(), self.read_counters())
                joules = energy_delta_j(previous[1], now[1], self.counters)
            except AnalyzerError as exc:
                self._buffer.fail(exc)
                self._buffer.append(Sample(time.time_ns(), ERROR_READING))
                return
            self._buffer.append(Sample(now[0], joules * 1e9 / (now[0] - previous[0])))
            previous = now

    async def poll(self) -> list[Sample]:
        return self._buffer.drain()

    async def stop(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler

    async def close(self) -> None:
        await self.stop()
