"""``report.json``'s ``measure``: a command measured by ``power-director measure``, per run:
its energy and average power (time-weighted over exactly its lifetime, with the ± budget),
idle before and after, energy above idle, each phase it marked, energy per unit of work, and
software estimates over the same window beside the wall meter (informative only)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from analyzer_drivers.formats.command_record import CommandRecord, read_command_record
from analyzer_drivers.formats.session_layout import RAW_DIR, phase_dir, repeat_phase, samples_path
from analyzer_drivers.formats.session_meta import SessionMeta
from reports.checks import Check
from reports.metrics import weighted_energy
from reports.model.measure import (
    IdleFigures,
    MarkedPhase,
    MeasureRun,
    MeasureSection,
    MeasureSummary,
    SoftwareEstimateFigures,
    WorkFigures,
)
from reports.phase_report import PhaseReport, phase_report
from reports.repeat import interval_stats
from reports.spl import PowerSeries, read_spl

#: Idle before and after the command differing by more than this share is reported as drift.
IDLE_DRIFT_LIMIT = 0.02
#: The figures whose mean and 95 % interval over the runs the section gives.
SUMMARY_KEYS = ("energy_j", "avg_watts", "energy_above_idle_j", "energy_per_unit_j", "duration_s")


def command_exit(phase: str, validity: str) -> Check:
    """A measured command's own exit status: a failed command is measured all the same."""
    ok = validity == "exit status 0"
    return Check(f"{phase}_command_exit", "pass" if ok else "warning",
                 f"the {phase} command ended with {validity}")


def _energy(
    series: PowerSeries, begin_ns: int, end_ns: int, interval_ns: int
) -> tuple[float | None, float | None]:
    energy = weighted_energy(series.t_ns, series.watts, begin_ns, end_ns, interval_ns)
    return energy.energy_j, energy.avg_watts


def _idle_watts(series: PowerSeries, begin_ns: int, end_ns: int, interval_ns: int) -> float | None:
    """Mean power of the samples averaged wholly inside an idle stretch. The stretch borders the
    command, so a sample straddling its edge holds some of the command's power: left out (the
    window integral would put it all at the command's level)."""
    valid = np.isfinite(series.watts) & (series.watts > 0)
    inside = valid & (series.t_ns - interval_ns >= begin_ns) & (series.t_ns <= end_ns)
    if np.any(inside):
        return float(np.mean(series.watts[inside]))
    return _energy(series, begin_ns, end_ns, interval_ns)[1]


def _idle(record: CommandRecord, phase: PhaseReport) -> IdleFigures | None:
    spans = {s.name: s for s in record.idle if s.begin_ns is not None and s.end_ns is not None}
    if not spans:
        return None
    watts = {name: _idle_watts(phase.series, s.begin_ns or 0, s.end_ns or 0, phase.interval_ns)
             for name, s in spans.items()}
    known = [w for w in watts.values() if w is not None]
    idle: dict[str, Any] = {f"{name}_watts": w for name, w in watts.items()}
    idle["idle_watts"] = sum(known) / len(known) if known else None
    before, after = watts.get("before"), watts.get("after")
    if before and after:
        drift = (after - before) / before
        idle["drift_pct"] = 100 * drift
        idle["drifted"] = abs(drift) > IDLE_DRIFT_LIMIT
        if idle["drifted"]:
            idle["note"] = (f"idle drifted {100 * drift:+.1f} % between before and after (over "
                            f"{100 * IDLE_DRIFT_LIMIT:g} %): energy above idle uses their mean")
    return IdleFigures.new(**idle)


def _phases(record: CommandRecord, phase: PhaseReport) -> tuple[MarkedPhase, ...]:
    """Each marked phase, from its mark to the next mark or the command's end."""
    marks = sorted((m for m in record.marks if m.t_ns is not None and m.name), key=lambda m: m.t_ns or 0)
    end_ns = record.end_ns or phase.window.end_ns
    phases: list[MarkedPhase] = []
    for k, mark in enumerate(marks):
        begin = max(mark.t_ns or 0, phase.window.begin_ns)
        end = min(marks[k + 1].t_ns or end_ns, end_ns) if k + 1 < len(marks) else end_ns
        if end <= begin:
            continue
        energy_j, avg_watts = _energy(phase.series, begin, end, phase.interval_ns)
        phases.append(MarkedPhase(name=mark.name or "", begin_ns=begin, end_ns=end,
                                  duration_s=(end - begin) / 1e9, energy_j=energy_j, avg_watts=avg_watts,
                                  stamped_by=mark.stamped_by))
    return tuple(phases)


def _work(record: CommandRecord, energy_j: float | None, above_idle_j: float | None) -> WorkFigures | None:
    work = record.work
    if work is None or work.units is None:
        return None
    units = work.units
    return WorkFigures(
        units=units, unit=work.unit, source=work.source,
        energy_per_unit_j=energy_j / units if energy_j is not None and units > 0 else None,
        units_per_j=units / energy_j if energy_j else None,
        energy_above_idle_per_unit_j=above_idle_j / units if above_idle_j is not None and units > 0 else None,
    )


def _estimate(source: str, energy_j: float | None, wall_j: float | None, duration_s: float,
              error: str | None = None) -> SoftwareEstimateFigures:
    return SoftwareEstimateFigures(
        source=source, energy_j=energy_j,
        avg_watts=energy_j / duration_s if energy_j is not None and duration_s > 0 else None,
        error_vs_wall_pct=100 * (energy_j - wall_j) / wall_j if energy_j is not None and wall_j else None,
        error=error or None,
    )


def _estimates(session_dir: Path, meta: SessionMeta, record: CommandRecord, phase: PhaseReport,
               wall_j: float | None) -> tuple[SoftwareEstimateFigures, ...]:
    """RAPL/NVML (the session's ``beside`` meters) and CodeCarbon over the command's window."""
    duration_s = phase.window.duration_s
    mark = meta.phase(phase.phase).mark or ""
    found = []
    for analyzer in meta.analyzers:
        if analyzer.role != "beside" or not mark:
            continue
        path = samples_path(session_dir / RAW_DIR, str(analyzer.driver))
        series = read_spl(path).with_mark(mark) if path.is_file() else None
        interval_ns = (analyzer.interval_ms or meta.interval_ms or 1000) * 1_000_000
        energy_j = (_energy(series, phase.window.begin_ns, phase.window.end_ns, interval_ns)[0]
                    if series is not None and len(series) else None)
        source = f"{analyzer.name} ({analyzer.driver})" if analyzer.name else str(analyzer.driver)
        found.append(_estimate(source, energy_j, wall_j, duration_s))
    found += [_estimate(e.source or "?", e.energy_j, wall_j, duration_s, e.error) for e in record.estimates]
    return tuple(found)


def measure_run(session_dir: Path, meta: SessionMeta, run: int, phase: PhaseReport,
                record: CommandRecord) -> MeasureRun:
    """One run's figures (the keys ``measure --json`` prints)."""
    window = phase.window
    energy_j, avg_watts = _energy(phase.series, window.begin_ns, window.end_ns, phase.interval_ns)
    budget = phase.power.uncertainty
    relative = budget.relative if budget else None
    error_w = relative * avg_watts if isinstance(relative, float) and avg_watts is not None else None
    idle = _idle(record, phase)
    idle_watts = idle.idle_watts if idle is not None else None
    if idle_watts is None or energy_j is None:  # no idle figures without both
        idle, idle_watts = None, None
    above_idle_j = None
    if idle_watts is not None and energy_j is not None:
        above_idle_j = energy_j - idle_watts * window.duration_s
    work = _work(record, energy_j, above_idle_j)
    return MeasureRun(
        run=run, exit_code=record.exit_code, energy_j=energy_j, avg_watts=avg_watts,
        uncertainty_watts=error_w,
        uncertainty_j=error_w * window.duration_s if error_w is not None else None,
        duration_s=window.duration_s, idle_watts=idle_watts, energy_above_idle_j=above_idle_j, idle=idle,
        energy_per_unit_j=work.energy_per_unit_j if work else None, unit=work.unit if work else None,
        work=work, phases=_phases(record, phase), channel_errors=record.channel_errors,
        estimates=_estimates(session_dir, meta, record, phase, energy_j),
    )


def measure_section(session_dir: Path, meta: SessionMeta, testing: PhaseReport) -> MeasureSection | None:
    """Every run of a measured command, and each figure's mean and 95 % interval over them."""
    records: list[tuple[int, PhaseReport, CommandRecord]] = []
    for run in range(1, 1 + sum(1 for p in meta.phases if p.startswith("testing"))):
        name = repeat_phase(run)
        record = read_command_record(session_dir / phase_dir(name))
        if record is None:
            return None if run == 1 else _section(session_dir, meta, records)
        report = testing if run == 1 else phase_report(session_dir, name, meta)
        records.append((run, report, record))
    return _section(session_dir, meta, records) if records else None


def _section(session_dir: Path, meta: SessionMeta,
             records: list[tuple[int, PhaseReport, CommandRecord]]) -> MeasureSection:
    runs = tuple(measure_run(session_dir, meta, run, phase, record) for run, phase, record in records)
    summary: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        values = [getattr(r, key) for r in runs]
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if numbers:
            summary[key] = interval_stats(numbers)
    errors: dict[str, list[float]] = {}
    for run in runs:
        for estimate in run.estimates:
            if isinstance(estimate.error_vs_wall_pct, float):
                errors.setdefault(estimate.source, []).append(estimate.error_vs_wall_pct)
    if errors:  # each estimate's error against the wall meter, over the runs
        summary["estimate_error_vs_wall_pct"] = {k: interval_stats(v) for k, v in errors.items()}
    return MeasureSection(argv=records[0][2].argv if records else (), runs=runs,
                          summary=MeasureSummary(**summary))
