"""A session's report as typed, frozen records: built once per session (``reports.build.session_report``),
then rendered to ``report.json`` (``SessionReport.to_json``, exactly the file's keys in the file's
order), the summary text, the HTML page and the PNG. ``SessionReport.from_json`` reads a
``report.json`` back (older files with keys missing too, written back as they were) for compare,
the results store, frames and audits; a malformed one is a one-line ``ReportError`` naming the key.
Every part is a ``reports.report_json.ReportRecord``: adding a key is one field."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.json_record import (
    child,
    integer,
    json_object,
    list_of,
    number,
    optional,
    plain,
    record,
    text,
)
from analyzer_drivers.formats.session_meta import AnalyzerRecord, RangeRecord
from reports.checks import Check
from reports.crossval import CalibrationSection, CrossValidation
from reports.model.eehpc_record import EehpcSection
from reports.model.measure import MeasureSection
from reports.repeat import IntervalStats
from reports.report_json import (
    JsonDict,
    ReportRecord,
    count,
    key,
    maybe_part,
    maybe_real,
    maybe_text,
    named,
    part,
    parts,
    real,
    texts,
    words,
    yes_no,
)
from reports.report_parts import ClockSection, Efficiency, PhasePower, PhaseSection, Uncertainty
from reports.system_model import SystemSection

STATUSES = ("pass", "warning", "fail", "unknown")


#: session.json's keys copied into report.json's ``provenance``, in order.
PROVENANCE_KEYS = ("host", "command", "config_hash", "workload", "system_name", "system_from")


@dataclass(frozen=True)
class RepeatRun(ReportRecord):
    """One testing run of a repeated session."""

    run: int = count()
    dir: str = words()
    value: float | None = maybe_real()  # the headline metric
    avg_watts: float | None = maybe_real()
    samples_in_window: int = count()
    duration_s: float = real()
    loadgen_validity: str | None = maybe_text()
    efficiency: Efficiency = part(Efficiency)


STATS = ("n", "mean", "stdev", "ci95", "half_width")


@dataclass(frozen=True)
class RepeatEfficiency(IntervalStats):
    """One efficiency figure (``key``) across every run."""

    key: str = words()

    json_order = ("key", *STATS)

    @classmethod
    def of(cls, name: str, stats: IntervalStats) -> RepeatEfficiency:
        return cls(**_stats(stats), key=name)


@dataclass(frozen=True)
class RepeatSection(IntervalStats):
    """Repeated testing runs: the headline metric of each and their interval."""

    metric: str = words()
    unit: str = words()
    confidence: float = real(0.95)
    runs: tuple[RepeatRun, ...] = parts(RepeatRun)
    efficiency: RepeatEfficiency | None = maybe_part(RepeatEfficiency)

    json_order = ("metric", "unit", "confidence", *STATS, "runs", "efficiency")

    @classmethod
    def of(cls, metric: str, unit: str, confidence: float, stats: IntervalStats, runs: tuple[RepeatRun, ...],
           efficiency: RepeatEfficiency | None) -> RepeatSection:
        return cls(**_stats(stats), metric=metric, unit=unit, confidence=confidence, runs=runs,
                   efficiency=efficiency)


def _stats(stats: IntervalStats) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in STATS}


cross_validation = plain(CrossValidation, {
    "offset_watts": number, "gain": number, "correlation": number, "lag_s": number,
    "energy_difference_pct": optional(number), "cells": integer, "cell_s": number,
    "residual_rms_watts": number,
}, {"offset_watts": 0.0, "gain": 0.0, "correlation": 0.0, "lag_s": 0.0, "energy_difference_pct": None,
    "cells": 0, "cell_s": 0.0, "residual_rms_watts": 0.0})


@dataclass(frozen=True)
class BesideMeter(ReportRecord):
    """A meter measured beside the wall meter (RAPL, NVML), not added to it; ``driver`` is its key
    in ``beside``."""

    driver: str = ""
    name: str | None = maybe_text()
    avg_watts: float | None = maybe_real()
    energy_j: float | None = maybe_real()
    share_of_wall: float | None = maybe_real()
    gap_s: float = real()
    grade: str = words()
    grade_reason: str = words()
    cross_validation: CrossValidation | None = key(optional(cross_validation))


def _beside(value: Any, where: str) -> tuple[BesideMeter, ...]:
    return tuple(dataclasses.replace(BesideMeter.from_json(meter, child(where, driver)), driver=driver)
                 for driver, meter in json_object(value, where).items())


def _write_beside(beside: tuple[BesideMeter, ...]) -> JsonDict:
    return {b.driver: b.to_json() for b in beside}


@dataclass(frozen=True)
class SumMeter(ReportRecord):
    """One of several supplies summed into the wall power, alone in the testing window."""

    role: str = words("sum")  # primary (the meter whose stamps the sum is on) or sum
    driver: str = words()
    name: str | None = maybe_text()
    interval_ms: int = count()
    avg_watts: float | None = maybe_real()  # time-weighted, over the testing window
    energy_j: float | None = maybe_real()
    gap_s: float = real()


@dataclass(frozen=True)
class Grade(ReportRecord):
    label: str | None = maybe_text()  # certified or informative
    reason: str | None = maybe_text()


@dataclass(frozen=True)
class Provenance(ReportRecord):
    host: str | None = maybe_text()
    command: str | None = maybe_text()
    config_hash: str | None = maybe_text()
    workload: str | None = maybe_text()
    system_name: str | None = maybe_text()  # the system under test (power_director.config.system_name)
    system_from: str | None = maybe_text()  # where that name came from


def _status(value: Any, where: str) -> str:
    if text(value, where) not in STATUSES:
        raise ReportError(f"{where} is not one of {', '.join(STATUSES)}: {value!r:.40}")
    return str(value)


check = plain(Check, {"name": text, "status": _status, "reason": text},
              {"name": "?", "status": "unknown", "reason": ""})


def _reasons(checks: tuple[Check, ...], *statuses: str) -> tuple[str, ...]:
    return tuple(c.reason for c in checks if c.status in statuses)


@dataclass(frozen=True)
class SessionReport(ReportRecord):
    """Everything ``report.json`` holds, in its order; keys no field knows (an imported run's, a
    recovered one's) are ``extra``. Built in code, ``power`` and the four lists follow from
    ``testing`` and ``checks``; read back, they are the file's. ``testing`` is None only in a
    report read back from a session that never measured (a recovered one)."""

    session: str = words("?")
    label: str | None = maybe_text()
    tool_version: str | None = maybe_text()
    provenance: Provenance = part(Provenance)
    scenario: str | None = maybe_text()
    valid: bool = yes_no()
    mlperf_valid: bool = yes_no()
    mlperf_problems: tuple[str, ...] = texts()  # why MLCommons would not accept it: every check not passed
    problems: tuple[str, ...] = texts()
    warnings: tuple[str, ...] = texts()
    unknown: tuple[str, ...] = texts()
    checks: tuple[Check, ...] = key(list_of(check), ())
    power: PhasePower | None = maybe_part(PhasePower)  # the testing phase's: the headline figures
    uncertainty: Uncertainty | None = maybe_part(Uncertainty)  # the headline's error budget (testing's)
    efficiency: Efficiency = part(Efficiency)
    testing: PhaseSection | None = maybe_part(PhaseSection)
    ranging: PhaseSection | None = maybe_part(PhaseSection)
    analyzer: AnalyzerRecord = part(AnalyzerRecord)  # the primary meter as the session recorded it
    ranges: Mapping[str, RangeRecord | None] = named(optional(record(RangeRecord)))  # per phase; None: auto
    clock: ClockSection | None = maybe_part(ClockSection)  # None: director and SUT share one clock
    beside: tuple[BesideMeter, ...] = key(_beside, (), write=_write_beside)
    sum: tuple[SumMeter, ...] = key(list_of(record(SumMeter)), (), omit_none=True)  # several supplies
    grade: Grade = part(Grade)
    calibration: CalibrationSection | None = maybe_part(CalibrationSection, omit_none=True)
    system: SystemSection | None = maybe_part(SystemSection, omit_none=True)  # multi-node
    repeat: RepeatSection | None = maybe_part(RepeatSection, omit_none=True)
    measure: MeasureSection | None = maybe_part(MeasureSection, omit_none=True)  # ``power-director measure``
    eehpc: EehpcSection | None = maybe_part(EehpcSection, omit_none=True)  # the EEHPC level a run meets

    def __post_init__(self) -> None:
        if self.json_keys is not None:
            return
        derived = {
            "power": self.testing.power if self.testing else None,
            "mlperf_problems": _reasons(self.checks, "fail", "warning", "unknown"),
            "problems": _reasons(self.checks, "fail"), "warnings": _reasons(self.checks, "warning"),
            "unknown": _reasons(self.checks, "unknown"),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def extra(self) -> Mapping[str, Any]:
        """report.json's keys that no field reads (an imported run's, a recovered one's)."""
        return self.json_unknown

    @property
    def notes(self) -> list[str]:
        notes = self.extra.get("notes")
        return [str(n) for n in notes] if isinstance(notes, list) else []

    @property
    def recovered(self) -> bool:
        return bool(self.extra.get("recovered")) or self.testing is None

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: Any, where: str = "report.json") -> SessionReport:
        """A report from ``report.json``'s content; keys it lacks take their empty values."""
        report = super().from_json(data, where)
        if report.testing is None and report.power is not None:  # before testing/ranging were split out
            object.__setattr__(report, "testing", PhaseSection(power=report.power))
        return report

    @classmethod
    def read(cls, path: Path) -> SessionReport:
        """A ``report.json`` file; unreadable or malformed: one line naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path} is not readable JSON: {exc}") from exc
        try:
            return cls.from_json(data)
        except ReportError as exc:
            raise ReportError(f"{path}: {exc}") from exc

