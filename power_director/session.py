"""One measurement session: identify → ranging → testing → restore, with everything on disk."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer_drivers.base import Analyzer, AnalyzerError, AnalyzerInfo, Ranges, Sample
from analyzer_drivers.meters import meter_spec
from loadgen_bridge.workload import Workload, WorkloadError
from power_director.config import Config
from power_director.journal import Journal, samples_path, write_phase_spl
from reports.mlperf_layout import write_power_dir
from reports.session_report import PHASE_DIRS, SESSION_META, write_report

CURRENT_HEADROOM = 1.1  # testing current range = 1.1 × the largest current seen in ranging
TAIL_TIMEOUT_INTERVALS = 3


class SessionError(Exception):
    """The session could not complete; the message says why. Raw data is kept."""


def testing_ranges(samples: list[Sample], info: AnalyzerInfo) -> Ranges:
    """Voltage range = max volts seen; current range = 1.1 × max amps; snapped up for known meters."""
    seen = [s for s in samples if s.is_valid and math.isfinite(s.volts) and math.isfinite(s.amps)]
    if not seen:
        raise SessionError("ranging produced no valid samples to choose testing ranges from")
    volts = max(s.volts for s in seen)
    amps = max(s.amps for s in seen) * CURRENT_HEADROOM
    spec = meter_spec(info.model)
    if spec is not None:
        try:
            return Ranges(volts=spec.snap_volts(volts), amps=spec.snap_amps(amps))
        except AnalyzerError as exc:
            raise SessionError(f"cannot range the testing run: {exc}") from exc
    return Ranges(volts=volts, amps=amps)


def rebuild_session_files(session_dir: Path, meta: dict[str, Any]) -> None:
    """Derive every file from the raw records: each phase's ``spl.txt`` and ``power/``."""
    driver = meta.get("analyzer", {}).get("driver")
    raw = session_dir / "raw"
    if driver and samples_path(raw, driver).is_file():
        for phase, sub in PHASE_DIRS.items():
            mark = meta.get("phases", {}).get(phase, {}).get("mark")
            if mark:
                write_phase_spl(raw, driver, mark, session_dir / sub / "spl.txt")
    write_power_dir(session_dir, meta)


def _stamp() -> list[float]:
    """[wall, monotonic] seconds, as MLCommons' server.json/client.json record phases."""
    return [time.time(), time.monotonic()]


def _ranges_dict(ranges: Ranges | None) -> dict[str, Any] | None:
    return None if ranges is None else {"volts": ranges.volts, "amps": ranges.amps}


@dataclass
class _PhaseRecord:
    mark: str
    samples: list[Sample] = field(default_factory=list)
    stamps: list[list[float]] = field(default_factory=list)


class Session:
    """Runs one session against one analyzer and one workload; writes its directory."""

    def __init__(
        self,
        config: Config,
        analyzer: Analyzer,
        workload: Workload,
        *,
        out_root: Path,
        label: str | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.analyzer = analyzer
        self.workload = workload
        self.label = label or config.session.label
        self.name = f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{self.label}"
        self.dir = out_root / self.name
        self.say = say
        self.meta: dict[str, Any] = {
            "session_name": self.name,
            "label": self.label,
            "status": "running",
            "interval_ms": config.analyzer.interval_ms,
            "settle_s": config.session.settle_s,
            "workload": workload.description,
            "uuid": {"client": str(uuid.uuid4()), "server": str(uuid.uuid4())},
            "ranges": {},
            "phases": {},
        }
        self.journal: Journal | None = None

    # --- public ------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        """Measure ranging then testing; return the report. Raises SessionError."""
        if self.dir.exists():
            raise SessionError(f"session directory {self.dir} already exists")
        for sub in (*PHASE_DIRS.values(), "power", "raw"):
            (self.dir / sub).mkdir(parents=True)
        self.journal = Journal(self.dir / "raw")
        self.analyzer.on_exchange = self._log_exchange
        self._save_meta()
        try:
            await self._measure()
        except BaseException as exc:
            reason = str(exc) or type(exc).__name__
            self.meta.update(status="aborted", error=reason)
            self.journal.record_event("aborted", error=reason)
            self._finish_files()
            if isinstance(exc, (AnalyzerError, SessionError, WorkloadError, OSError)):
                raise SessionError(f"{reason} (raw data kept in {self.dir})") from exc
            raise
        self.meta["status"] = "completed"
        self._finish_files()
        return write_report(self.dir)

    # --- the state machine -------------------------------------------------------------
    async def _measure(self) -> None:
        assert self.journal is not None
        async with self.analyzer as meter:
            info = await meter.identify()
            self.meta["analyzer"] = {
                "name": info.name, "model": info.model, "version": info.version,
                "identify": info.raw, "averaging_ms": info.averaging_ms, "driver": meter.name,
            }
            initial = await meter.get_ranges()
            self.meta["ranges"]["initial"] = _ranges_dict(initial)
            self.journal.record_event("identified", analyzer=self.meta["analyzer"], ranges=str(initial))
            self.say(f"{self.name}: analyzer {info.name} ({info.model}), initial ranges {initial.describe()}")
            try:
                ranging = await self._ranged_phase(meter, "ranging", Ranges.auto())
                testing = testing_ranges(ranging.samples, info)
                await self._ranged_phase(meter, "testing", testing)
            finally:
                await self._restore(meter, initial)

    async def _ranged_phase(self, meter: Analyzer, phase: str, ranges: Ranges) -> _PhaseRecord:
        await meter.set_ranges(ranges)
        self.meta["ranges"][phase] = _ranges_dict(ranges)
        self.say(f"  {phase}: ranges {ranges.describe()}; running {self.workload.description}")
        await asyncio.sleep(self.config.session.settle_s)
        record = await self._phase(meter, phase)
        await asyncio.sleep(self.config.session.settle_s)
        return record

    async def _phase(self, meter: Analyzer, phase: str) -> _PhaseRecord:
        assert self.journal is not None
        record = _PhaseRecord(mark=f"{self.name}_{phase}")
        self.meta["phases"][phase] = {"mark": record.mark, "times": record.stamps}
        self.journal.record_event("phase_start", phase=phase, mark=record.mark)
        record.stamps.append(_stamp())
        await meter.start(record.mark, self.config.analyzer.interval_ms)
        record.stamps.append(_stamp())
        try:
            await self._run_workload_while_polling(meter, phase, record)
            record.stamps.append(_stamp())
            await self._poll_until(meter, record, time.time_ns())
        finally:
            with contextlib.suppress(AnalyzerError):
                await meter.stop()
                self._keep(meter, record, await meter.poll())
                self.meta["phases"][phase]["uncertainty_mean"] = await meter.uncertainty()
            self.journal.record_event("phase_stop", phase=phase, samples=len(record.samples))
        record.stamps.append(_stamp())
        return record

    async def _run_workload_while_polling(
        self, meter: Analyzer, phase: str, record: _PhaseRecord
    ) -> None:
        stop_polling = asyncio.Event()
        poller = asyncio.create_task(self._poll_loop(meter, record, stop_polling))
        work = asyncio.create_task(self.workload.run(phase, self.dir / PHASE_DIRS[phase]))
        done, _ = await asyncio.wait({poller, work}, return_when=asyncio.FIRST_COMPLETED)
        if poller in done and poller.exception() is not None:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise poller.exception()  # type: ignore[misc]
        try:
            await work
        finally:
            stop_polling.set()
            await poller

    async def _poll_loop(self, meter: Analyzer, record: _PhaseRecord, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._keep(meter, record, await meter.poll())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.session.poll_interval_s)

    async def _poll_until(self, meter: Analyzer, record: _PhaseRecord, t_ns: int) -> None:
        """Poll until a sample stamped at or after ``t_ns`` arrives, so it covers the window end."""
        interval_s = self.config.analyzer.interval_ms / 1000
        deadline = time.monotonic() + TAIL_TIMEOUT_INTERVALS * interval_s + 1.0
        while not record.samples or record.samples[-1].t_ns < t_ns:
            if time.monotonic() > deadline:
                self.say(f"  warning: no sample after the workload ended within {deadline:.0f} s")
                return
            await asyncio.sleep(min(interval_s / 5, 0.1))
            self._keep(meter, record, await meter.poll())

    def _keep(self, meter: Analyzer, record: _PhaseRecord, batch: list[Sample]) -> None:
        assert self.journal is not None
        if batch:
            self.journal.record_samples(meter.name, batch, record.mark)
            record.samples.extend(batch)

    async def _restore(self, meter: Analyzer, initial: Ranges) -> None:
        try:
            await meter.set_ranges(initial)
            self.say(f"  restored ranges {initial.describe()}")
        except AnalyzerError as exc:
            self.say(f"  warning: could not restore the initial ranges: {exc}")

    def _log_exchange(self, command: str, reply: str, sent_ns: int, replied_ns: int) -> None:
        assert self.journal is not None
        # An RL reply carries every sample line; those are in the sample journal already.
        head = reply.split("\n", 1)[0]
        self.journal.record_event(
            "exchange", cmd=command, reply=head, cmd_t_ns=sent_ns, reply_t_ns=replied_ns
        )

    # --- files -------------------------------------------------------------------------
    def _finish_files(self) -> None:
        assert self.journal is not None
        self.meta["samples"] = dict(self.journal.sample_counts)
        self.journal.close()
        self._save_meta()
        rebuild_session_files(self.dir, self.meta)

    def _save_meta(self) -> None:
        path = self.dir / SESSION_META
        path.write_text(json.dumps(self.meta, indent=2, default=str) + "\n", encoding="utf-8")
