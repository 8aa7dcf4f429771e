"""What runs while the meter measures: LoadGen in-process, or any command that writes LoadGen logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from analyzer_drivers.formats.errors import PowerDirectorError
from analyzer_drivers.formats.window import Window
from loadgen_bridge.cpu_sut import CpuBenchmark, run_cpu_benchmark
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log

WORKLOAD_STOP_GRACE_S = 5.0
MIN_DURATION_SLACK_MS = 10  # the window's stamps have millisecond resolution
LOADGEN_LOG_NAMES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json")
#: Meter intervals measured alone before and after a workload: the samples straddling its
#: window's edges then have neighbours outside it, from which ``reports.metrics.weighted_energy``
#: takes the outside part of their power (without one it counts a straddling sample in proportion
#: to its overlap, low by the step where the load starts or stops at the edge). The MLPerf figures
#: count only samples inside the window: these change none of them.
LEAD_INTERVALS = 2


def lead_s(interval_ms: int, intervals: int = LEAD_INTERVALS) -> float:
    """How long the meter measures alone before and after a workload."""
    return intervals * interval_ms / 1000


class WorkloadError(PowerDirectorError):
    """The workload failed or left no LoadGen logs."""


class Workload(Protocol):
    @property
    def description(self) -> str: ...

    async def run(self, phase: str, log_dir: Path) -> Window | None:
        """Run once; afterwards ``log_dir`` holds this run's LoadGen logs. A workload that
        has already read its detail log returns the window (so nobody reads it again)."""


@runtime_checkable
class StartsOnRequest(Protocol):
    """A workload whose phases start when its SUT asks (a v3 client's ``start,<phase>``):
    the session touches the analyzer for a phase (ranges, settle, ``Go``) only after this."""

    async def start_requested(self, phase: str) -> None:
        """Return once the SUT asked to start ``phase``; WorkloadError if it never will."""


@dataclass
class InProcessLoadgen:
    """The real LoadGen over the built-in CPU SUT, in this process (on a worker thread)."""

    bench: CpuBenchmark
    lead_s: float = 0.0  # measured alone before and after LoadGen's run (``lead_s()``)

    @property
    def description(self) -> str:
        return f"in-process LoadGen {self.bench.scenario}, {self.bench.duration_s:g} s, CPU SUT"

    async def run(self, phase: str, log_dir: Path) -> None:
        await asyncio.sleep(self.lead_s)
        await asyncio.to_thread(run_cpu_benchmark, self.bench, log_dir)
        await asyncio.sleep(self.lead_s)


@dataclass
class CommandWorkload:
    """A command that runs LoadGen. It writes its logs to ``$POWER_DIRECTOR_LOG_DIR``
    (the phase directory), or to ``loadgen_logs`` from where they are copied."""

    argv: list[str]
    loadgen_logs: Path | None = None
    lead_s: float = 0.0  # measured alone before and after the command (``lead_s()``)

    @property
    def description(self) -> str:
        return " ".join(self.argv)

    async def run(self, phase: str, log_dir: Path) -> None:
        env = {**os.environ, "POWER_DIRECTOR_LOG_DIR": str(log_dir), "POWER_DIRECTOR_PHASE": phase}
        if self.loadgen_logs is not None:
            for name in LOADGEN_LOG_NAMES:
                (self.loadgen_logs / name).unlink(missing_ok=True)  # never pick up an old run
        await asyncio.sleep(self.lead_s)
        try:
            process = await start_process(self.argv, env=env)
        except OSError as exc:
            raise WorkloadError(f"cannot start workload {self.argv[0]!r}: {exc.strerror or exc}") from exc
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            await end_process(process)
            raise
        if code != 0:
            raise WorkloadError(f"workload exited with status {code} in the {phase} phase")
        if self.loadgen_logs is not None:
            self._collect(log_dir)
        if not (log_dir / DETAIL_LOG).is_file():
            where = self.loadgen_logs or log_dir
            raise WorkloadError(f"workload wrote no {DETAIL_LOG} in {where} ({phase} phase)")
        await asyncio.sleep(self.lead_s)

    def _collect(self, log_dir: Path) -> None:
        assert self.loadgen_logs is not None
        for name in LOADGEN_LOG_NAMES:
            source = self.loadgen_logs / name
            if source.is_file():
                shutil.copy2(source, log_dir / name)


async def start_process(argv: Sequence[str], **options: Any) -> asyncio.subprocess.Process:
    """``create_subprocess_exec`` that a cancel cannot orphan: a cancel (Ctrl-C) landing while the
    child is being started waits for it, ends it, then goes on cancelling (an interrupted ``run``
    once left its workload running, holding the director's output open)."""
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(*argv, **options))
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await end_process(await spawn)
        raise


async def end_process(process: asyncio.subprocess.Process) -> None:
    """Terminate a workload and reap it (an unreaped child outlives the event loop noisily)."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), WORKLOAD_STOP_GRACE_S)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def check_window(detail_log: Path, phase: str, window: Window | None = None) -> Window:
    """The phase's LoadGen window (``window`` when the workload read it already). Fail the
    phase now, not at the report, when its LoadGen log has no usable window or the run was
    shorter than LoadGen's own minimum duration."""
    if window is None:
        try:
            window = parse_detail_log(detail_log)
        except LoadgenLogError as exc:
            raise WorkloadError(f"bad LoadGen log in the {phase} phase: {exc}") from exc
    minimum_ms = window.min_duration_ms
    if minimum_ms and window.duration_s * 1000 + MIN_DURATION_SLACK_MS < minimum_ms:
        raise WorkloadError(
            f"the {phase} phase run lasted {window.duration_s:.3f} s, under LoadGen's minimum duration "
            f"{minimum_ms / 1000:g} s"
        )
    return window
