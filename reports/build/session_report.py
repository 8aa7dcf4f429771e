"""From a session directory's files to ``report.json``: each phase is built once (``PhaseReport``),
and ``report.json``, ``report.html`` and ``power.png`` are rendered from those same objects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer_drivers.formats.command_record import COMMAND_SCENARIO
from analyzer_drivers.formats.errors import ReportError as ReportError
from analyzer_drivers.formats.sample import ERROR_READING, MISSED_SAMPLE
from analyzer_drivers.formats.session_layout import (
    RAW_DIR,
    REPEAT_PHASE,
    REPORT_JSON,
    phase_dir,
    read_session_meta,
    repeat_phase,
    samples_path,
)
from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.formats.window import Window
from reports import checks
from reports.build.measure_report import command_exit, measure_section
from reports.checks import Check
from reports.clock_report import clock_checks, clock_section
from reports.comparison import comparison_accuracy, comparison_checks
from reports.crossval import calibration_section, cross_validate, grade_checks, meter_grade
from reports.metrics import (
    PER_QUERY_SCENARIOS,
    mlperf_window_mask,
    weighted_energy,
)
from reports.mlperf.checks import mlperf_checks
from reports.mlperf.eehpc import session_eehpc
from reports.model.headline import headline_of
from reports.model.report import (
    PROVENANCE_KEYS,
    BesideMeter,
    Grade,
    Provenance,
    RepeatEfficiency,
    RepeatRun,
    RepeatSection,
    SessionReport,
    SumMeter,
)
from reports.multinode import system_checks, system_section
from reports.phase_report import Adjust, PhaseReport, phase_report
from reports.render.html import write_html_report
from reports.repeat import CONFIDENCE, interval_stats
from reports.report_json import JsonObject
from reports.report_parts import Efficiency, PhasePower
from reports.spl import PowerSeries, read_spl
from reports.system_model import SystemSection
from reports.version import tool_version


@dataclass(frozen=True)
class ImportHooks:
    """What a run we did not record brings instead of a journal (see reports.build.mlperf_import)."""

    adjust: Adjust
    checks: Callable[[PhaseReport, PhaseReport], list[Check]]  # replace same-named checks
    extra: Callable[[PhaseReport, PhaseReport], JsonObject]  # more report.json keys


class TestingSamples:
    """Each analyzer's raw samples of the testing phase (``raw/<driver>.samples.txt``), each file
    read once however many sections (summed supplies, beside meters, the system) use it."""

    def __init__(self, session_dir: Path, meta: SessionMeta, phase: str = "testing") -> None:
        self.raw_dir = session_dir / RAW_DIR
        self.mark: str | None = meta.phase(phase).mark
        self._read: dict[str, PowerSeries] = {}

    def __call__(self, driver: str) -> PowerSeries:
        if driver not in self._read:
            self._read[driver] = read_spl(samples_path(self.raw_dir, driver)).with_mark(self.mark or "")
        return self._read[driver]


def _beside_meters(
    samples: TestingSamples, meta: SessionMeta, testing: PhaseReport
) -> tuple[BesideMeter, ...]:
    """Meters measured beside the wall meter (RAPL, NVML): their power in the testing window."""
    beside = []
    for analyzer in meta.analyzers:
        if analyzer.role != "beside" or not samples.mark:
            continue
        driver = str(analyzer.driver)
        series = samples(driver)
        energy = weighted_energy(series.t_ns, series.watts, testing.window.begin_ns,
                                 testing.window.end_ns, testing.interval_ns)
        wall_watts = testing.power.time_weighted.avg_watts
        versus = cross_validate((testing.series.t_ns, testing.series.watts), (series.t_ns, series.watts),
                                testing.window.begin_ns, testing.window.end_ns, testing.interval_ns)
        grade, why = meter_grade(analyzer)
        beside.append(BesideMeter(
            driver, analyzer.name, energy.avg_watts, energy.energy_j,
            energy.avg_watts / wall_watts if energy.avg_watts and wall_watts else None,
            energy.gap_s, grade, why, versus,
        ))
    return tuple(beside)


def _summed_meters(
    samples: TestingSamples, meta: SessionMeta, testing: PhaseReport
) -> tuple[SumMeter, ...]:
    """With several supplies summed (role ``sum``): each supply alone in the testing window,
    the primary first, from its own raw samples at its own interval."""
    analyzers = [a for a in meta.analyzers if a.role in ("primary", "sum")]
    if not samples.mark or not any(a.role == "sum" for a in analyzers):
        return ()
    primary_ms = meta.interval_ms or testing.interval_ns // NS_PER_MS
    meters = []
    for analyzer in analyzers:
        interval_ms = analyzer.interval_ms or primary_ms
        driver = str(analyzer.driver)
        series = samples(driver)
        energy = weighted_energy(series.t_ns, series.watts, testing.window.begin_ns, testing.window.end_ns,
                                 interval_ms * NS_PER_MS)
        meters.append(SumMeter(str(analyzer.role), driver, analyzer.name,
                               interval_ms, energy.avg_watts, energy.energy_j, energy.gap_s))
    return tuple(meters)


def _efficiency(window: Window, power: PhasePower) -> Efficiency:
    avg_watts = power.avg_watts
    if not avg_watts:
        return Efficiency()
    if window.scenario in PER_QUERY_SCENARIOS:
        per_query_mj = power.energy_per_query_mj
        if not per_query_mj:
            return Efficiency()
        return Efficiency(queries_per_joule=1000 / per_query_mj,
                          samples_per_joule=1000 * window.samples_per_query / per_query_mj)
    if window.result is None:
        return Efficiency()
    return Efficiency(samples_per_second_per_watt=window.result / avg_watts)


def _phase_times(meta: SessionMeta, phase: str) -> tuple[float | None, float | None]:
    """Wall times (s) after the analyzer's start reply and after the workload, if recorded."""
    times = meta.phase(phase).times
    if times.workload_ended_s is None:
        return None, None
    return times.analyzer_started_s, times.workload_ended_s


def _phase_clock(phase: PhaseReport, meta: SessionMeta) -> checks.PhaseClock:
    """The director's record of a phase that the analyzer's timestamps must agree with."""
    recorded = meta.phase(phase.phase)
    driver = meta.primary.driver
    outages = [(g.lost_t_ns, g.back_t_ns) for g in meta.reconnects
               if g.mark == recorded.mark and g.analyzer == driver
               and g.lost_t_ns is not None and g.back_t_ns is not None]
    times = recorded.times
    began, ended = ((int(times.began_s * 1e9), int(times.stopped_s * 1e9))
                    if times.began_s is not None and times.stopped_s is not None else (None, None))
    return checks.PhaseClock(phase.phase, phase.interval_ns, outages, began, ended)


def _error_readings(series: PowerSeries) -> int:
    """Samples holding a PTDaemon sentinel (-1 error, -2 missed) or NaN."""
    watts = series.watts
    return int(np.count_nonzero(np.isnan(watts) | (watts == ERROR_READING) | (watts == MISSED_SAMPLE)))


def _ranging_error_readings(session_dir: Path, meta: SessionMeta, ranging: PhaseReport) -> int:
    """What the meters themselves sent in error while ranging: with summed supplies from each
    one's raw samples, since the summed line's -2 is also a merge gap (a meter without data on
    the primary's interval), which the coverage check judges, not an analyzer error."""
    summed = [str(a.driver) for a in meta.analyzers if a.role in ("primary", "sum")]
    if len(summed) < 2 or not all(samples_path(session_dir / RAW_DIR, d).is_file() for d in summed):
        return _error_readings(ranging.series)
    samples = TestingSamples(session_dir, meta, "ranging")
    return sum(_error_readings(samples(driver)) for driver in summed) if samples.mark else 0


def _testing_checks(testing: PhaseReport, meta: SessionMeta) -> list[Check]:
    uncertainty = testing.sample_uncertainty
    in_window = testing.series.take(
        mlperf_window_mask(testing.series, testing.window.begin_ns, testing.window.end_ns)
    )
    ranges = meta.ranges.get("testing")
    limits = (ranges.volts, ranges.amps) if ranges else (None, None)
    overloaded = 0
    for limit, values in zip(limits, (in_window.volts, in_window.amps), strict=True):
        if limit:
            overloaded += int(np.count_nonzero(values > checks.OVERLOAD_FACTOR * limit))
    errors = int(np.count_nonzero(testing.series.watts == ERROR_READING))
    if comparison_accuracy(meta) is not None:
        return [*comparison_checks(uncertainty, len(in_window)), checks.range_overload(overloaded, errors)]
    return [
        checks.sample_uncertainty(
            uncertainty.above_one_percent if uncertainty else None, len(in_window),
            uncertainty.source if uncertainty else "no accuracy spec or analyzer figure",
        ),
        checks.range_overload(overloaded, errors),
    ]


def _zero_watt_readings(phase: PhaseReport) -> int:
    t_ms = phase.series.t_ns // NS_PER_MS
    inside = (t_ms > phase.window.begin_ns // NS_PER_MS) & (t_ms < phase.window.end_ns // NS_PER_MS)
    return int(np.count_nonzero(inside & (phase.series.watts == 0)))


def _phase_checks(phase: PhaseReport, meta: SessionMeta) -> list[Check]:
    t_ns = phase.series.t_ns
    coverage = phase.power.coverage
    # The first sample averages over the interval before its stamp: measuring began then.
    measured_from = int(t_ns.min()) - phase.interval_ns if len(t_ns) else None
    return [
        checks.samples_in_window(phase.phase, phase.power.samples_in_window, _zero_watt_readings(phase)),
        checks.window_inside_measurement(
            phase.phase, phase.window.begin_ns, phase.window.end_ns,
            measured_from, int(t_ns.max()) if len(t_ns) else None,
        ),
        (command_exit(phase.phase, phase.window.validity) if phase.window.scenario == COMMAND_SCENARIO
         else checks.loadgen_valid(phase.phase, phase.window.validity)),
        checks.window_inside_phase(
            phase.phase, phase.window.begin_ns, phase.window.end_ns, *_phase_times(meta, phase.phase)
        ),
        checks.coverage(
            phase.phase, coverage.fraction, coverage.longest_gap_s, coverage.interval_s
        ),
        checks.analyzer_clock(t_ns, _phase_clock(phase, meta)),
    ]


def _reconnect_check(meta: SessionMeta) -> Check:
    gaps = meta.reconnects
    outages_s = [((g.back_t_ns or 0) - (g.lost_t_ns or 0)) / 1e9 for g in gaps]
    return checks.analyzer_reconnects(outages_s, sum(bool(g.restarted) for g in gaps))


def _replace_checks(all_checks: list[Check], replacements: list[Check]) -> list[Check]:
    by_name = {c.name: c for c in replacements}
    kept = [by_name.pop(c.name, c) for c in all_checks]
    return kept + list(by_name.values())


def build_report(
    session_dir: Path, meta: SessionMeta | None = None, hooks: ImportHooks | None = None
) -> SessionReport:
    """Everything ``report.json`` holds, computed from the session's files alone (read, never
    written). ``meta`` and ``hooks`` stand in for the journal of a run we did not record."""
    return build_session_report(session_dir, meta, hooks)[0]


def build_session_report(
    session_dir: Path, meta: SessionMeta | None = None, hooks: ImportHooks | None = None,
    windows: Mapping[str, Window] | None = None,
) -> tuple[SessionReport, list[PhaseReport]]:
    """The report and the ranging and testing phases it was built from (each phase's files
    read once), for the renderers. ``windows``: the LoadGen windows the session has read
    already, by phase."""
    if not session_dir.is_dir():
        raise ReportError(f"no session directory at {session_dir}")
    meta = meta if meta is not None else read_session_meta(session_dir)
    adjust = hooks.adjust if hooks else None
    windows = windows or {}
    ranging = (phase_report(session_dir, "ranging", meta, adjust, windows.get("ranging"))
               if (session_dir / phase_dir("ranging")).is_dir() else None)  # ``measure`` has none
    testing = phase_report(session_dir, "testing", meta, adjust, windows.get("testing"))
    samples = TestingSamples(session_dir, meta)
    system = system_section(samples, meta, testing.window, testing.interval_ns)
    ranging_errors = _ranging_error_readings(session_dir, meta, ranging) if ranging is not None else 0
    all_checks = _all_checks(meta, ranging, testing, system, ranging_errors)
    if hooks is not None and ranging is not None:
        all_checks = _replace_checks(all_checks, hooks.checks(ranging, testing))
    problems = [c for c in all_checks if c.status == "fail"]
    measure = measure_section(session_dir, meta, testing)
    report = SessionReport(
        session=meta.session_name if meta.session_name is not None else session_dir.name,
        label=meta.label,
        tool_version=meta.tool_version or tool_version(),
        provenance=Provenance(*(getattr(meta, key) for key in PROVENANCE_KEYS)),
        scenario=testing.window.scenario,
        valid=not problems,
        mlperf_valid=not problems and all(c.status == "pass" for c in all_checks),
        checks=tuple(all_checks),
        testing=testing.section(),
        ranging=ranging.section() if ranging is not None else None,
        uncertainty=testing.power.uncertainty,
        efficiency=_efficiency(testing.window, testing.power),
        analyzer=meta.primary,
        ranges=meta.ranges,
        clock=clock_section(meta),
        beside=_beside_meters(samples, meta, testing),
        sum=_summed_meters(samples, meta, testing),
        grade=Grade(*meter_grade(meta.primary)),
        calibration=calibration_section(meta, testing.power),
        system=system,
        repeat=_repeat_section(session_dir, meta, testing, windows),
        json_unknown=hooks.extra(ranging, testing) if hooks and ranging is not None else {},
        measure=measure,
        eehpc=session_eehpc(meta, testing, system, measure),
    )
    return report, [p for p in (ranging, testing) if p is not None]


def _ranging_checks(ranging: PhaseReport | None, testing: PhaseReport, errors: int) -> list[Check]:
    if ranging is None:
        return [Check("ranging_run", "warning", "no ranging run (measure: auto ranges): not MLPerf-valid")]
    return [
        checks.ranging_error_readings(errors),
        checks.testing_power_vs_ranging(testing.power.avg_watts, ranging.power.avg_watts),
        checks.testing_duration_vs_ranging(testing.window.duration_s, ranging.window.duration_s),
    ]


def _all_checks(
    meta: SessionMeta, ranging: PhaseReport | None, testing: PhaseReport, system: SystemSection | None,
    ranging_errors: int,
) -> list[Check]:
    all_checks = [
        *(_phase_checks(ranging, meta) if ranging is not None else []),
        *_phase_checks(testing, meta),
        *_testing_checks(testing, meta),
        *_ranging_checks(ranging, testing, ranging_errors),
        checks.mlperf_duration(testing.power.duration_s),
        *clock_checks(meta),
        _reconnect_check(meta),
        *mlperf_checks(meta),
        *grade_checks(meta),
        *system_checks(system),
    ]
    if meta.reused_ranging is not None and meta.reused_ranging.json_keys:
        all_checks.append(Check(
            "ranging_reused", "warning",
            f"ranges reused from {meta.reused_ranging.session} without a ranging run of "
            "its own: not MLPerf-valid",
        ))
    if (meta.status if meta.has("status") else "completed") != "completed":
        all_checks.append(Check("session_completed", "fail", meta.error or "aborted"))
    return all_checks


def _run_summary(run: int, phase: PhaseReport, key: str) -> RepeatRun:
    power = phase.power
    return RepeatRun(run, phase_dir(repeat_phase(run)), power.value(key), power.avg_watts,
                     power.samples_in_window, power.duration_s, phase.window.validity,
                     _efficiency(phase.window, power))


def _efficiency_interval(runs: list[RepeatRun]) -> RepeatEfficiency | None:
    """The first efficiency figure of run 1 across every run: mean, stdev, 95 % interval."""
    first = runs[0].efficiency.first()
    if first is None:
        return None
    key = first[0]
    values = [r.efficiency.get(key) for r in runs]
    return RepeatEfficiency.of(key, interval_stats([float("nan") if v is None else v for v in values]))


def _repeat_section(
    session_dir: Path, meta: SessionMeta, testing: PhaseReport, windows: Mapping[str, Window]
) -> RepeatSection | None:
    """With repeated testing runs: each run's metric and their mean, stdev and 95 % interval."""
    phases = [p for p in meta.phases if REPEAT_PHASE.fullmatch(p)]
    if not phases:
        return None
    metric = headline_of(testing.window.scenario, testing.power)
    runs = [_run_summary(1, testing, metric.key)]
    for run in range(2, len(phases) + 2):
        phase = repeat_phase(run)
        report = phase_report(session_dir, phase, meta, None, windows.get(phase))
        runs.append(_run_summary(run, report, metric.key))
    values = [float("nan") if r.value is None else r.value for r in runs]
    return RepeatSection.of(metric.key, metric.unit, CONFIDENCE, interval_stats(values), tuple(runs),
                            _efficiency_interval(runs))


def write_report(session_dir: Path, windows: Mapping[str, Window] | None = None) -> SessionReport:
    """``report.json``, ``power.png`` and ``report.html`` of a session, from one build."""
    report, phases = build_session_report(session_dir, windows=windows)
    (session_dir / REPORT_JSON).write_text(report.dumps(), encoding="utf-8")
    write_html_report(session_dir, report, phases)
    return report
