"""The Python API: measure any block of code with any configured meter, no LoadGen needed.

    with power_director.measure(meter="sim") as m:
        work()
    print(m.result.energy_j, m.result.avg_watts, m.result.uncertainty_watts)

or, Zeus-style, named windows that may overlap:

    monitor = power_director.measure(meter="director.toml")
    monitor.begin_window("train")
    ...
    result = monitor.end_window("train")
    monitor.close()

Inside an event loop, the same with ``await``; the loop never blocks on the meter:

    async with power_director.measure(meter="sim") as m:
        await work()
    monitor = power_director.measure(meter="sim")
    await monitor.abegin_window("step")
    result = await monitor.aend_window("step")
    await monitor.aclose()

Inside a command run by ``power-director measure -- CMD``, name its phases:

    power_director.mark("decode")

A background thread runs the meter's async driver: it connects, starts one untimed
measurement at the first window and polls it until ``close()``; each window's energy is
the time-weighted integral of those samples over exactly its interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from analyzer_drivers.base import Analyzer, AnalyzerError, AnalyzerInfo
from analyzer_drivers.formats.errors import PowerDirectorError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.marks import MARKS_ENV
from power_director.config.loader import AnalyzerConfig, load_config
from power_director.session.assembly import build_meter
from reports.metrics import weighted_energy
from reports.uncertainty import edge_error_w

SIM_METERS = ("sim", "simulator")
DEFAULT_SIM_INTERVAL_MS = 100
WINDOW_END_TIMEOUT_INTERVALS = 3
UNCERTAINTY_EVERY_POLLS = 10


class MeasureError(PowerDirectorError):
    """The meter could not be used, or a window was misused; the message says why."""


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One measured window. Energy and power are time-weighted over exactly
    ``[begin_ns, end_ns]`` (UTC epoch ns); ``None`` where no valid sample covered it."""

    name: str
    meter: str
    begin_ns: int
    end_ns: int
    duration_s: float
    energy_j: float | None
    avg_watts: float | None
    uncertainty_watts: float | None  # ± on avg_watts: the meter's accuracy and the window edges
    uncertainty_j: float | None
    gap_s: float  # window time with no valid sample (filled by interpolation)
    samples: tuple[Sample, ...]  # the samples that overlap the window, oldest first

    @property
    def sample_count(self) -> int:
        return len(self.samples)


def _resolve_meter(meter: Any, interval_ms: int | None) -> tuple[Analyzer | None, PowerModel | None, int]:
    """(analyzer, simulator model, interval ms) for what ``meter=`` names."""
    if isinstance(meter, str) and meter in SIM_METERS:
        return None, CpuUtilisationModel(scope="process"), interval_ms or DEFAULT_SIM_INTERVAL_MS
    if isinstance(meter, Analyzer):
        return meter, None, interval_ms or 1000
    if isinstance(meter, (AnalyzerConfig, str, Path)):
        config = meter if isinstance(meter, AnalyzerConfig) else load_config(Path(meter)).analyzer
        analyzer, configured_ms = build_meter(config)
        return analyzer, None, interval_ms or configured_ms
    if hasattr(meter, "reading"):  # a power model: simulate a meter over it
        return None, meter, interval_ms or DEFAULT_SIM_INTERVAL_MS
    raise MeasureError(f"meter= takes 'sim', a config file, an AnalyzerConfig, an Analyzer or a power "
                       f"model, not {type(meter).__name__}")


class PowerMonitor:
    """Samples one meter in the background; measures named windows over its samples."""

    def __init__(self, meter: Any = "sim", *, interval_ms: int | None = None,
                 poll_interval_s: float = 0.1, connect_timeout_s: float = 30.0) -> None:
        self._analyzer, self._model, self.interval_ms = _resolve_meter(meter, interval_ms)
        self.poll_interval_s = poll_interval_s
        self.connect_timeout_s = connect_timeout_s
        self.info: AnalyzerInfo | None = None
        self.result: WindowResult | None = None  # the context manager's window
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._windows: dict[str, int] = {}
        self._uncertainty: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_lock = threading.Lock()  # two windows begun at once start one sampler
        self._error: BaseException | None = None

    # --- windows -------------------------------------------------------------------------
    def begin_window(self, name: str) -> None:
        if name in self._windows:
            raise MeasureError(f"window {name!r} is already open")
        self._start()
        self._windows[name] = time.time_ns()

    def end_window(self, name: str) -> WindowResult:
        begin_ns, end_ns = self._close_window(name)
        return self._window_result(name, begin_ns, end_ns)

    def _close_window(self, name: str) -> tuple[int, int]:
        """(begin, end) of the window, once a sample stamped after its end has arrived."""
        begin_ns = self._windows.pop(name, None)
        if begin_ns is None:
            raise MeasureError(f"no open window {name!r}")
        end_ns = time.time_ns()
        self._wait_for_sample_after(end_ns)
        return begin_ns, end_ns

    def __enter__(self) -> PowerMonitor:
        self.begin_window("measure")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        window = None
        try:
            if exc_type is None:
                window = self._close_window("measure")
        finally:
            self.close()  # stopped first: the meter's accuracy figure covers the whole measurement
        if window is not None:
            self.result = self._window_result("measure", *window)

    # --- the same from an event loop: each blocking step in a worker thread ------------------
    async def abegin_window(self, name: str) -> None:
        await asyncio.to_thread(self.begin_window, name)

    async def aend_window(self, name: str) -> WindowResult:
        return await asyncio.to_thread(self.end_window, name)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> PowerMonitor:
        await asyncio.to_thread(self.__enter__)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    # --- the background sampler -------------------------------------------------------------
    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._thread_main, daemon=True,
                                                name="power-director-measure")
                self._thread.start()
        if not self._ready.wait(self.connect_timeout_s + 5) and self._error is None:
            self._error = MeasureError(f"the meter did not start within {self.connect_timeout_s:g} s")
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            error = self._error
            raise MeasureError(f"meter failed: {error}") from error

    def _thread_main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._sample())
        except BaseException as exc:  # reported to the caller's thread by _raise_failure
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _sample(self) -> None:
        self._stop = asyncio.Event()
        simulator = None
        analyzer = self._analyzer
        if analyzer is None:
            simulator = PtdSimulator(model=self._model, averaging_ms=self.interval_ms)
            port = await simulator.start_server("127.0.0.1", 0)
            analyzer = PtdAnalyzer("127.0.0.1", port, connect_timeout_s=self.connect_timeout_s)
        try:
            async with analyzer:
                self.info = await analyzer.identify()
                await analyzer.start(f"measure_{time.time_ns()}", self.interval_ms)
                self._ready.set()
                polls = 0
                while not self._stop.is_set():
                    self._keep(await analyzer.poll())
                    polls += 1
                    if polls % UNCERTAINTY_EVERY_POLLS == 1:
                        await self._update_uncertainty(analyzer)
                    await _wait(self._stop, self.poll_interval_s)
                await analyzer.stop()
                self._keep(await analyzer.poll())
                await self._update_uncertainty(analyzer)
        finally:
            if simulator is not None:
                await simulator.close()

    async def _update_uncertainty(self, analyzer: Analyzer) -> None:
        """The meter's mean per-sample uncertainty so far, where it reports one."""
        with contextlib.suppress(AnalyzerError):
            uncertainty = await analyzer.uncertainty()
            if uncertainty is not None:
                self._uncertainty = uncertainty

    def _keep(self, batch: list[Sample]) -> None:
        with self._lock:
            self._samples.extend(batch)

    def _wait_for_sample_after(self, end_ns: int) -> None:
        deadline = time.monotonic() + WINDOW_END_TIMEOUT_INTERVALS * self.interval_ms / 1000 + 1.0
        while time.monotonic() < deadline and self._error is None:
            with self._lock:
                if self._samples and self._samples[-1].t_ns >= end_ns:
                    return
            time.sleep(min(self.interval_ms / 5000, 0.05))
        self._raise_failure()

    def _window_result(self, name: str, begin_ns: int, end_ns: int) -> WindowResult:
        interval_ns = self.interval_ms * NS_PER_MS
        with self._lock:
            samples = sorted(self._samples, key=lambda s: s.t_ns)
        t_ns = np.array([s.t_ns for s in samples], dtype=np.int64)
        watts = np.array([s.watts for s in samples], dtype=np.float64)
        energy = weighted_energy(t_ns, watts, begin_ns, end_ns, interval_ns)
        kept = tuple(s for s in samples if begin_ns < s.t_ns < end_ns + interval_ns)
        duration_s = (end_ns - begin_ns) / 1e9
        error_w = None
        if energy.avg_watts is not None:
            edge_w = edge_error_w(t_ns, watts, begin_ns, end_ns, interval_ns) if len(t_ns) else 0.0
            meter_w = (self._uncertainty or 0.0) * energy.avg_watts
            error_w = math.hypot(meter_w, edge_w) if self._uncertainty is not None or edge_w else None
        meter = f"{self.info.name} ({self.info.model})" if self.info else "unknown"
        return WindowResult(
            name, meter, begin_ns, end_ns, duration_s, energy.energy_j, energy.avg_watts, error_w,
            None if error_w is None else error_w * duration_s, energy.gap_s, kept,
        )

    def close(self) -> None:
        """Stop the measurement and disconnect (windows still open are dropped)."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=self.connect_timeout_s + 10)
        self._thread = None
        self._windows.clear()


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)


def measure(meter: Any = "sim", *, interval_ms: int | None = None,
            poll_interval_s: float = 0.1) -> PowerMonitor:
    """A monitor for ``meter``: ``"sim"`` (a PTDaemon simulator on loopback whose power follows
    this process's CPU demand), a config file path, an ``AnalyzerConfig``, an ``Analyzer``
    or a power model. Use it with ``with`` (then ``.result``) or ``begin_window``/``end_window``;
    ``close()`` when done. In a coroutine: ``async with``, ``await abegin_window(...)``/
    ``aend_window(...)``, ``await aclose()``."""
    return PowerMonitor(meter, interval_ms=interval_ms, poll_interval_s=poll_interval_s)


def mark(name: str) -> bool:
    """Phase ``name`` of the command ``power-director measure`` is measuring begins now (the
    previous one ends). False, doing nothing, when no measurement is listening."""
    if not name or any(c.isspace() for c in name):
        raise MeasureError(f"a phase name is one word, not {name!r}")
    path = os.environ.get(MARKS_ENV)
    if not path:
        return False
    try:  # non-blocking: with no director reading, opening the pipe fails at once (ENXIO)
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, f"mark {name} {time.time_ns()}\n".encode())
    finally:
        os.close(fd)
    return True


__all__ = ["AnalyzerError", "MeasureError", "PowerMonitor", "WindowResult", "mark", "measure"]
