"""One measurement session: identify → ranging → testing → restore, with everything on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from analyzer_drivers.base import Analyzer, AnalyzerError, Ranges
from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_layout import (
    PHASE_DIRS,
    RAW_DIR,
    SESSION_META,
    phase_dir,
    repeat_phase,
)
from analyzer_drivers.formats.session_meta import (
    ClockRecord,
    PhaseRecord,
    ReusedRanging,
    WindowCorrection,
)
from analyzer_drivers.formats.window import Window
from loadgen_bridge.detail_log import DETAIL_LOG
from loadgen_bridge.workload import StartsOnRequest, Workload, WorkloadError, check_window
from power_director.config.loader import Config
from power_director.observe.observer import Observers, SessionObserver
from power_director.session.files import (
    describe_analyzer,
    make_session_dirs,
    new_session_meta,
    rebuild_session_files,
    remove_session_dir,
)
from power_director.session.journal import Journal
from power_director.session.parts import (
    ExtraMeter,
    PhaseMark,
    SessionMeter,
    phase_stamp,
    reconnect,
    session_meters,
    session_name,
    stop_if_cancelled,
)
from power_director.session.ranging import (
    PhaseTally,
    range_advice,
    range_record,
    reused_ranges,
    testing_ranges,
)
from power_director.session.ranging import (
    SessionError as SessionError,
)
from power_director.session.recording import record_session
from reports.build.session_report import write_report
from reports.model.report import SessionReport

TAIL_TIMEOUT_INTERVALS = 3


class Session:
    """Runs one session against its analyzers and one workload; writes its directory."""

    def __init__(
        self,
        config: Config,
        analyzer: Analyzer,
        workload: Workload,
        *,
        out_root: Path,
        label: str | None = None,
        say: Callable[[str], None] = print,
        extra_analyzers: Sequence[ExtraMeter] = (),
        observers: Sequence[SessionObserver] = (),
        repeat: int = 1,
        reuse_ranging: Path | None = None,
        ranging: bool = True,
    ) -> None:
        self.config = config
        self.analyzer = analyzer
        self.meters = session_meters(config, analyzer, extra_analyzers)
        self.workload = workload
        self.label = label or config.session.label
        self.name = session_name(out_root, self.label)
        self.dir = out_root / self.name
        self.say = say
        self.record_error: str | None = None  # why the results store did not take it
        self.meta = new_session_meta(config, self.name, self.label, workload.description)
        self._to_director_ns: Callable[[int], int] | None = None  # a remote SUT's clock fit
        self.journal: Journal | None = None
        self.windows: dict[str, Window] = {}  # each phase's LoadGen window, read once
        self.observers = Observers(observers)
        if repeat < 1:
            raise SessionError(f"repeat must be at least 1, not {repeat}")
        self.repeat = repeat
        self.reuse_ranging = reuse_ranging
        self._reused = reused_ranges(reuse_ranging) if reuse_ranging else None
        # ``measure``: no ranging run (the command runs once per repeat); every meter on auto.
        self.ranging = ranging and reuse_ranging is None
        if not ranging and reuse_ranging is not None:
            raise SessionError("a session without ranging cannot reuse another's ranging")
        self._made_roots: list[Path] = []  # output directories run() created
        self.cancel_reason = ""  # why whoever cancels run() did (Python 3.11 may drop the message)

    @property
    def primary(self) -> SessionMeter:
        return self.meters[0]

    # --- public ------------------------------------------------------------------------
    async def run(self) -> SessionReport:
        """Measure ranging then testing; return the report. Raises SessionError."""
        if self.dir.exists():
            raise SessionError(f"session directory {self.dir} already exists")
        runs = [phase_dir(repeat_phase(k)) for k in range(1, self.repeat + 1)]
        phases = [d for p, d in PHASE_DIRS.items() if p != "ranging" or self.ranging or self._reused]
        self._made_roots = make_session_dirs(self.dir, [*phases, *runs])
        self._copy_reused_ranging()
        self.journal = Journal(self.dir / RAW_DIR,
                               [m.analyzer.name for m in self.meters if m.analyzer.journaled_at_source])
        self.analyzer.on_exchange = self.journal.record_exchange
        self.save_meta()
        try:
            await self._measure()
        except BaseException as exc:
            reason = self.cancel_reason or str(exc) or type(exc).__name__
            self.meta = self.meta.updated(status="aborted", error=reason)
            self.journal.record_event("aborted", error=reason)
            self._finish_files()
            self.observers.on_state("aborted", self.meta)
            kept = self._keep_or_discard()
            if isinstance(exc, (AnalyzerError, SessionError, WorkloadError, OSError)):
                raise SessionError(f"{reason} ({kept})") from exc
            raise
        self.meta = self.meta.updated(status="completed")
        self._finish_files()
        report = write_report(self.dir, self.windows)
        self._record(report)
        self.observers.on_state("completed", self.meta)
        self.observers.on_result(report)
        return report

    def _keep_or_discard(self) -> str:
        """After an abort: a session that measured nothing leaves no directory behind (we
        made every file in it); one with samples is kept and indexed as aborted."""
        if not any(self.meta.samples.values()):
            remove_session_dir(self.dir, self._made_roots)
            return "nothing was measured; no session directory kept"
        self._record(None)
        return f"raw data kept in {self.dir}"

    def _record(self, report: SessionReport | None) -> None:
        """Into the results stores; a store that fails costs no measurement: ``record_error``
        says why (``run`` exits 2 on it), the files stay the source of truth."""
        try:
            record_session(self.config, self.dir, report)
        except ReportError as exc:
            self.record_error = str(exc)
            self.say(f"{self.name}: not recorded in the results store: {exc}")

    def _copy_reused_ranging(self) -> None:
        """Labs may skip ranging: the earlier session's ranging files stand in for it."""
        if self.reuse_ranging is None:
            return
        ranging = PHASE_DIRS["ranging"]
        shutil.copytree(self.reuse_ranging / ranging, self.dir / ranging, dirs_exist_ok=True)
        reused = ReusedRanging.new(session=str(self.reuse_ranging.resolve()))
        self.meta = self.meta.updated(reused_ranging=reused)

    # --- the state machine -------------------------------------------------------------
    async def _measure(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for meter in self.meters:
                timeout_s = getattr(meter.analyzer, "connect_timeout_s", None)
                within = f" (waiting up to {timeout_s:g} s)" if isinstance(timeout_s, (int, float)) else ""
                self.say(f"{self.name}: connecting to {meter.analyzer.name}{within}")
                await stack.enter_async_context(meter.analyzer)
                await self._identify(meter)
            try:
                ranges = self._reused
                if ranges is None and not self.ranging:
                    ranges = {m.analyzer.name: Ranges.auto() for m in self.meters}
                if ranges is None:
                    await self._ranged_phase("ranging", {m.analyzer.name: Ranges.auto() for m in self.meters})
                    for meter in self.meters:
                        self._advise(meter)
                    ranges = {
                        m.analyzer.name: testing_ranges(m.tally, m.info) if m.has_ranges and m.info
                        and m.analyzer.reads_volts_amps  # a BMC or a PDU has no ranges: auto
                        else Ranges.auto()
                        for m in self.meters
                    }
                for run in range(1, self.repeat + 1):
                    await self._ranged_phase(repeat_phase(run), ranges)
            finally:
                for meter in self.meters:
                    await self._restore(meter)

    def _advise(self, meter: SessionMeter) -> None:
        """Before testing: warn when the ranges ranging implies would leave samples above 1 %."""
        advice = range_advice(meter.info if meter.has_ranges else None, meter.tally)
        if advice is None:
            return
        driver = meter.analyzer.name
        self.meta = self.meta.with_analyzer(driver, worst_sample_uncertainty=advice.worst_uncertainty)
        if advice.warning:
            self.meta = self.meta.with_analyzer(driver, range_warning=advice.warning)
            self.say(f"  warning: {advice.warning}")

    async def _identify(self, meter: SessionMeter) -> None:
        assert self.journal is not None
        info = meter.info = await meter.analyzer.identify()
        meter.initial = await meter.analyzer.get_ranges()
        described = describe_analyzer(meter.analyzer, info, meter.role, meter.interval_ms, self.config)
        self.meta = self.meta.updated(analyzers=(*self.meta.analyzers, described))
        if meter.role == "primary":
            self.meta = self.meta.updated(analyzer=described)
            self.meta = self.meta.with_range("initial", range_record(meter.initial))
        self.journal.record_event("identified", analyzer=described.to_json(), ranges=str(meter.initial))
        self.say(f"{self.name}: {meter.role} analyzer {info.name} ({info.model}), "
                 f"initial ranges {meter.initial.describe()}")

    async def _ranged_phase(self, phase: str, ranges: dict[str, Ranges]) -> None:
        if isinstance(self.workload, StartsOnRequest):  # power-dev's server: ranges and Go at start
            await self.workload.start_requested(phase)
        for meter in self.meters:
            await meter.analyzer.set_ranges(ranges.get(meter.analyzer.name, Ranges.auto()))
            if phase == "ranging":
                await meter.analyzer.begin_ranging()
        primary_ranges = ranges.get(self.primary.analyzer.name, Ranges.auto())
        self.meta = self.meta.with_range(phase, range_record(primary_ranges))
        for described in self.meta.analyzers:
            driver = str(described.driver)
            chosen = range_record(ranges.get(driver, Ranges.auto()))
            self.meta = self.meta.with_analyzer(driver, ranges={**described.ranges, phase: chosen})
        shown = primary_ranges.describe() if self.primary.has_ranges else "none to set"
        self.say(f"  {phase}: ranges {shown}; running {self.workload.description}")
        await asyncio.sleep(self.config.session.settle_s)
        await self._phase(phase)
        await asyncio.sleep(self.config.session.settle_s)

    async def _phase(self, phase: str) -> None:
        assert self.journal is not None
        record = PhaseMark(mark=f"{self.name}_{phase}")
        self.meta = self.meta.with_phase(phase, PhaseRecord.new(mark=record.mark, stamps=()))
        self.journal.record_event("phase_start", phase=phase, mark=record.mark)
        self.save_meta()  # a killed director leaves the mark and analyzers on disk
        for meter in self.meters:
            meter.tally = PhaseTally(track_ranges=phase == "ranging")
        self.meta = self.meta.stamped(phase, phase_stamp())
        self.observers.on_state(phase, self.meta)
        for meter in self.meters:
            await meter.analyzer.start(record.mark, meter.interval_ms)
        stop_if_cancelled()
        self.meta = self.meta.stamped(phase, phase_stamp())
        try:
            await self._run_workload_while_polling(phase, record)
            self.meta = self.meta.stamped(phase, phase_stamp())
            await self._poll_until(record, time.time_ns())
        finally:
            for meter in self.meters:
                with contextlib.suppress(AnalyzerError):
                    await meter.analyzer.stop()
                    self._keep(meter, record, await meter.analyzer.poll())
                    if meter.role == "primary":
                        uncertainty = await meter.analyzer.uncertainty()
                        self.meta = self.meta.with_phase_changes(phase, uncertainty_mean=uncertainty)
                    evidence = meter.analyzer.evidence()
                    if evidence is not None:
                        kept = evidence.updated(uncertainty_mean=await meter.analyzer.uncertainty())
                        meters = {**self.meta.phase(phase).meters, meter.analyzer.name: kept}
                        self.meta = self.meta.with_phase_changes(phase, meters=meters)
            self.journal.record_event(
                "phase_stop", phase=phase, samples={m.analyzer.name: m.tally.count for m in self.meters}
            )
        self.meta = self.meta.stamped(phase, phase_stamp())

    async def _run_workload_while_polling(self, phase: str, record: PhaseMark) -> None:
        stop_polling = asyncio.Event()
        poller = asyncio.create_task(self._poll_loop(record, stop_polling))
        # Repeat runs are testing runs to the workload too.
        shown = "testing" if phase.startswith("testing") else phase
        work: asyncio.Task[Window | None] = asyncio.create_task(
            self.workload.run(shown, self.dir / phase_dir(phase)))
        try:
            done, _ = await asyncio.wait({poller, work}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # stop both before the ranges are restored
            stop_polling.set()  # a cancel the poller's wait_for loses (see stop_if_cancelled) ends it too
            for task in (poller, work):
                task.cancel()
            await asyncio.gather(poller, work, return_exceptions=True)
            raise
        if poller in done and poller.exception() is not None:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            raise poller.exception()  # type: ignore[misc]
        try:
            read = await work
        finally:
            stop_polling.set()
            await poller
        detail_log = self.dir / phase_dir(phase) / DETAIL_LOG
        if read is not None and self._to_director_ns is not None:
            correction = WindowCorrection.of(read.begin_ns, read.end_ns, self._to_director_ns)
            self.meta = self.meta.with_correction(phase, correction)
        if read is not None or detail_log.is_file():  # a v3 client sends its logs after the session
            self.windows[phase] = check_window(detail_log, phase, read)

    def record_clock(self, clock: ClockRecord, to_director_ns: Callable[[int], int]) -> None:
        """A remote SUT's newer clock fit: every phase's window is corrected again with it."""
        self._to_director_ns = to_director_ns
        self.meta = self.meta.with_clock(clock, to_director_ns)

    async def _poll_all(self, record: PhaseMark, due_only: bool = False) -> None:
        """Poll every meter; ``due_only``: those due (``SessionMeter.due``)."""
        for meter in (m for m in self.meters if not due_only or m.due(time.monotonic())):
            self._keep(meter, record, await self._poll_meter(meter, record))

    async def _poll_meter(self, meter: SessionMeter, record: PhaseMark) -> list[Sample]:
        try:
            return await meter.analyzer.poll()
        except AnalyzerError as exc:
            await self._reconnect(meter, record, exc)
            return []

    async def _reconnect(self, meter: SessionMeter, record: PhaseMark, error: AnalyzerError) -> None:
        assert self.journal is not None
        gap = await reconnect(meter, record.mark, error, self.config.session.reconnect_timeout_s, self.say)
        self.journal.record_event("reconnect", **gap.to_json())
        self.meta = self.meta.updated(reconnects=(*self.meta.reconnects, gap))

    async def _poll_loop(self, record: PhaseMark, stop: asyncio.Event) -> None:
        while not stop.is_set():
            stop_if_cancelled()  # a lost cancel polled on and held `serve` after a Ctrl-C (seen under load)
            await self._poll_all(record, due_only=True)
            if self.journal is not None:
                self.journal.alive()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.session.poll_interval_s)

    async def _poll_until(self, record: PhaseMark, t_ns: int) -> None:
        """Poll until each ranged meter has a sample stamped at or after ``t_ns``, then until
        every summed meter covers the primary's last interval (its sample at or after the
        primary's): the window's end is covered, bounded by a few intervals."""
        waiting = [m for m in self.meters if m.ranged]
        interval_s = max((m.interval_ms for m in waiting), default=self.config.analyzer.interval_ms) / 1000
        wait_s = TAIL_TIMEOUT_INTERVALS * interval_s + 1.0
        deadline = time.monotonic() + wait_s
        target_ns: int | None = None
        while True:
            if target_ns is None and all(m.tally.last_t_ns is not None and m.tally.last_t_ns >= t_ns
                                         for m in waiting[:1]):
                target_ns = max(t_ns, self.meters[0].tally.last_t_ns or t_ns)
            behind = target_ns is None or any(m.tally.last_t_ns is None or m.tally.last_t_ns < target_ns
                                              for m in waiting)
            if not behind:
                return
            if time.monotonic() > deadline:
                what = "no sample after the workload ended" if target_ns is None else \
                    "not every summed meter covered the primary's last interval"
                self.say(f"  warning: {what} within {wait_s:g} s")
                return
            await asyncio.sleep(min(interval_s / 5, 0.1))
            await self._poll_all(record)

    def _keep(self, meter: SessionMeter, record: PhaseMark, batch: list[Sample]) -> None:
        assert self.journal is not None
        if batch:
            self.journal.record_samples(meter.analyzer.name, batch, record.mark)
            meter.tally.add(batch)
            self.observers.on_samples(meter.analyzer.name, batch)

    async def _restore(self, meter: SessionMeter) -> None:
        if meter.initial is None:
            return
        try:
            await meter.analyzer.set_ranges(meter.initial)
            self.say(f"  restored {meter.analyzer.name} ranges {meter.initial.describe()}")
        except AnalyzerError as exc:
            self.say(f"  warning: could not restore the initial ranges of {meter.analyzer.name}: {exc}")

    # --- files -------------------------------------------------------------------------
    def _finish_files(self) -> None:
        assert self.journal is not None
        self.meta = self.meta.updated(samples=dict(self.journal.sample_counts))
        self.journal.close()
        self.save_meta()
        rebuild_session_files(self.dir, self.meta)

    def save_meta(self) -> None:
        path = self.dir / SESSION_META
        path.write_text(json.dumps(self.meta.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
