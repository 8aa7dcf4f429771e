"""``report.json``'s ``measure``: a command measured by ``power-director measure``, as typed records
(built by ``reports.build.measure_report``; ``measure --json`` prints run 1's figures from them).

Which keys a run has follows what was measured: ``idle_watts``, ``energy_above_idle_j`` and
``idle`` only with idle stretches, ``energy_per_unit_j``, ``unit`` and ``work`` only where work
was counted, ``channel_errors`` only when there were some; a record read back writes the keys it
was read with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analyzer_drivers.formats.json_record import flag, list_of, map_of, optional, record, text
from reports.repeat import IntervalStats
from reports.report_json import (
    ReportRecord,
    count,
    key,
    maybe_int,
    maybe_part,
    maybe_real,
    maybe_text,
    part,
    parts,
    real,
    texts,
    words,
    yes_no,
)

SOFTWARE_NOTE = "informative: a software estimate, not a measurement; the wall meter is the reference"


@dataclass(frozen=True)
class IdleFigures(ReportRecord):
    """Idle before and after the command (``<span>_watts``), their mean and their drift; built
    with ``new``, so only the spans measured (and a drift only with both) are written."""

    before_watts: float | None = maybe_real()
    after_watts: float | None = maybe_real()
    idle_watts: float | None = maybe_real()
    drift_pct: float | None = maybe_real()
    drifted: bool | None = key(optional(flag))
    note: str | None = maybe_text()


@dataclass(frozen=True)
class WorkFigures(ReportRecord):
    """Units of work the command reported, and energy per unit."""

    units: float | None = maybe_real()
    unit: str | None = maybe_text()
    source: str | None = maybe_text()
    energy_per_unit_j: float | None = maybe_real()
    units_per_j: float | None = maybe_real()
    energy_above_idle_per_unit_j: float | None = maybe_real()


@dataclass(frozen=True)
class MarkedPhase(ReportRecord):
    """A phase the command marked, from its mark to the next mark or the command's end."""

    name: str = words()
    begin_ns: int = count()
    end_ns: int = count()
    duration_s: float = real()
    energy_j: float | None = maybe_real()
    avg_watts: float | None = maybe_real()
    stamped_by: str | None = maybe_text()


@dataclass(frozen=True)
class SoftwareEstimateFigures(ReportRecord):
    """A software estimate (RAPL, NVML, CodeCarbon) over the command's window, against the wall."""

    source: str = words()
    energy_j: float | None = maybe_real()
    avg_watts: float | None = maybe_real()
    error_vs_wall_pct: float | None = maybe_real()
    informative: bool = yes_no(True)
    note: str = words(SOFTWARE_NOTE)
    error: str | None = key(optional(text), omit_none=True)  # why the estimate has no figure


@dataclass(frozen=True)
class MeasureRun(ReportRecord):
    """One run of the command: energy and average power over exactly its lifetime, with the ±."""

    run: int = count()
    exit_code: int | None = maybe_int()
    energy_j: float | None = maybe_real()
    avg_watts: float | None = maybe_real()
    uncertainty_watts: float | None = maybe_real()
    uncertainty_j: float | None = maybe_real()
    duration_s: float = real()
    idle_watts: float | None = maybe_real(omit_none=True)
    energy_above_idle_j: float | None = maybe_real(omit_none=True)
    idle: IdleFigures | None = maybe_part(IdleFigures, omit_none=True)
    energy_per_unit_j: float | None = maybe_real()  # written only with ``work``
    unit: str | None = maybe_text()  # written only with ``work``
    work: WorkFigures | None = maybe_part(WorkFigures, omit_none=True)
    phases: tuple[MarkedPhase, ...] = parts(MarkedPhase)
    estimates: tuple[SoftwareEstimateFigures, ...] = parts(SoftwareEstimateFigures)
    channel_errors: tuple[str, ...] = key(list_of(text), (), omit_none=True)  # lines not understood

    def written_keys(self) -> tuple[str, ...]:
        keys = super().written_keys()
        if self.json_keys is None and self.work is None:
            return tuple(k for k in keys if k not in ("energy_per_unit_j", "unit"))
        return keys


_stats_map = optional(map_of(record(IntervalStats)))


@dataclass(frozen=True)
class MeasureSummary(ReportRecord):
    """Each figure's mean and 95 % interval over the runs (a figure no run has: left out)."""

    energy_j: IntervalStats | None = maybe_part(IntervalStats, omit_none=True)
    avg_watts: IntervalStats | None = maybe_part(IntervalStats, omit_none=True)
    energy_above_idle_j: IntervalStats | None = maybe_part(IntervalStats, omit_none=True)
    energy_per_unit_j: IntervalStats | None = maybe_part(IntervalStats, omit_none=True)
    duration_s: IntervalStats | None = maybe_part(IntervalStats, omit_none=True)
    #: each software estimate's error against the wall meter, by source
    estimate_error_vs_wall_pct: Mapping[str, IntervalStats] | None = key(_stats_map, omit_none=True)


@dataclass(frozen=True)
class MeasureSection(ReportRecord):
    """``measure``: the command (``argv``), its runs and their summary."""

    argv: tuple[str, ...] = texts()
    runs: tuple[MeasureRun, ...] = parts(MeasureRun)
    summary: MeasureSummary = part(MeasureSummary)
