"""The one interface every power meter sits behind, and the data it yields.

A driver knows its instrument and nothing else: no sessions, no LoadGen, no reports.
Time is UTC epoch nanoseconds on the director's clock.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from analyzer_drivers.formats.errors import AnalyzerError as AnalyzerError
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.formats.meter_records import MeterEvidence, SavedCalibration, StatedAccuracy
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS


@dataclass(frozen=True, slots=True)
class Ranges:
    """Voltage and current ranges. ``None`` for a value means auto-ranging."""

    volts: float | None
    amps: float | None

    @classmethod
    def auto(cls) -> Ranges:
        return cls(volts=None, amps=None)

    def describe(self) -> str:
        volts = "Auto" if self.volts is None else f"{self.volts:g} V"
        amps = "Auto" if self.amps is None else f"{self.amps:g} A"
        return f"{volts}, {amps}"


@dataclass(frozen=True, slots=True)
class AnalyzerInfo:
    """What a meter says it is."""

    name: str
    model: str
    averaging_ms: int
    version: str = ""
    raw: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: Vendor, model, serial (a plug's id), firmware as the meter's own identify reply says them.
    identity: MeterIdentity = field(default_factory=MeterIdentity)


class SampleBuffer:
    """Samples a background reader has taken and ``poll()`` has not yet returned (bounded).

    A reader that dies records why; the next poll that finds no samples raises it.
    """

    def __init__(self, max_samples: int = 100_000) -> None:
        self._samples: deque[Sample] = deque(maxlen=max_samples)
        self.failure: AnalyzerError | None = None

    def clear(self) -> None:
        self._samples.clear()
        self.failure = None

    def append(self, sample: Sample) -> None:
        self._samples.append(sample)

    def fail(self, error: AnalyzerError) -> None:
        self.failure = error

    def drain(self) -> list[Sample]:
        samples = [self._samples.popleft() for _ in range(len(self._samples))]
        if not samples and self.failure is not None:
            raise self.failure
        return samples


class PacedSampler:
    """A background task that takes one sample per interval, paced on the clock, into a
    ``SampleBuffer``: ``start``/``drain``/``stop`` for drivers whose meter keeps no samples itself
    (a BMC, a PDU)."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name, self.timeout_s = name, timeout_s
        self._buffer = SampleBuffer()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self, interval_ms: int, next_sample: Callable[[], Awaitable[Sample | None]]) -> None:
        """``next_sample`` reads the meter once; None when that reading is not a new sample."""
        if self._task is not None:
            raise AnalyzerError(f"{self.name}: a measurement is already running")
        self._buffer.clear()
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(interval_ms, next_sample))

    async def _loop(self, interval_ms: int, next_sample: Callable[[], Awaitable[Sample | None]]) -> None:
        interval_ns, t0_ns, index = interval_ms * NS_PER_MS, time.time_ns(), 0
        while not self._stopping.is_set():
            try:
                sample = await next_sample()
            except AnalyzerError as exc:
                self._buffer.fail(exc)
                return
            if sample is not None:
                self._buffer.append(sample)
            index += 1
            with contextlib.suppress(asyncio.TimeoutError):
                delay_s = max(0.0, (t0_ns + index * interval_ns - time.time_ns()) / 1e9)
                await asyncio.wait_for(self._stopping.wait(), delay_s)

    def drain(self) -> list[Sample]:
        return self._buffer.drain()

    async def stop(self) -> None:
        """Let a read in flight finish (a reading the meter served is kept), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.timeout_s + 1.0)
        except asyncio.TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


#: Called with (command, reply, command_t_ns, reply_t_ns) for every exchange with a meter.
ExchangeLog = Callable[[str, str, int, int], None]


class Analyzer(abc.ABC):
    """An async power meter: identify, range, start with a mark, poll samples, stop.

    Use it as an async context manager: ``async with driver as meter: ...``.
    """

    #: A short stable name for file names and reports, e.g. ``ptd-127.0.0.1-8888``.
    name: str = "analyzer"
    #: Drivers that speak a command protocol report each exchange here when it is set.
    on_exchange: ExchangeLog | None = None
    #: False for a meter whose samples never carry volts and amps (a BMC, a PDU): no testing
    #: ranges are derived from its ranging.
    reads_volts_amps: bool = True
    #: True for a meter whose source keeps its own journal of every sample (a meter agent):
    #: the director's copy need not be synced to disk each second.
    journaled_at_source: bool = False
    #: A saved calibration against a certified analyzer (offset_watts, gain, from_session),
    #: recorded with the session so its report can apply it.
    calibration: SavedCalibration | None = None

    async def __aenter__(self) -> Analyzer:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def identify(self) -> AnalyzerInfo: ...

    @abc.abstractmethod
    async def get_ranges(self) -> Ranges: ...

    @abc.abstractmethod
    async def set_ranges(self, ranges: Ranges) -> None: ...

    @abc.abstractmethod
    async def start(self, mark: str, interval_ms: int) -> None:
        """Begin an untimed measurement whose samples carry ``mark``."""

    @abc.abstractmethod
    async def poll(self) -> list[Sample]:
        """Samples taken since the last poll (possibly none), oldest first."""

    @abc.abstractmethod
    async def stop(self) -> None: ...

    async def begin_ranging(self) -> None:
        """After the ranging run's auto ranges are set, before it starts (nothing by default)."""
        return None

    async def uncertainty(self) -> float | None:
        """Mean per-sample uncertainty (fraction) of the last measurement, if known."""
        return None

    def comparison_accuracy(self) -> StatedAccuracy | None:
        """For a comparison-grade meter (a smart plug: no MLPerf Power analyzer), its stated
        accuracy (a fraction of the reading, a resolution in W); None for any other."""
        return None

    def evidence(self) -> MeterEvidence | None:
        """What the session keeps of this meter's last measurement beyond its samples (a
        remote meter: its clock, losses, replays); None for most meters."""
        return None

    async def reconnect(self) -> None:
        """After a failed poll: make a new connection to the meter (a driver whose link is
        still up may keep it)."""
        await self.close()
        await self.connect()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        """After a reconnect: restart the measurement with ``mark`` unless the meter kept it
        running. Returns True when it had to restart (samples in between are lost)."""
        await self.start(mark, interval_ms)
        return True


class RangelessAnalyzer(Analyzer, abc.ABC):
    """A meter with no ranges to set (a smart plug, an energy counter): always 'auto'."""

    async def get_ranges(self) -> Ranges:
        return Ranges.auto()

    async def set_ranges(self, ranges: Ranges) -> None:
        """Nothing to set."""


class PacedAnalyzer(RangelessAnalyzer, abc.ABC):
    """A rangeless meter read by a ``PacedSampler`` (``self._sampling``; a BMC): ``poll`` drains
    it, ``stop`` ends it, ``resume`` starts again (the meter kept measuring; only the readings
    made while away are missed)."""

    _sampling: PacedSampler

    async def poll(self) -> list[Sample]:
        return self._sampling.drain()

    async def stop(self) -> None:
        await self._sampling.stop()

    async def resume(self, mark: str, interval_ms: int) -> bool:
        await self.start(mark, interval_ms)
        return False
