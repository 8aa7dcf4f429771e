"""A session's report as typed, frozen objects: built once per session (``reports.build.session_report``),
then rendered to ``report.json`` (``SessionReport.to_json``, exactly the file's keys in the file's
order), the summary text, the HTML page and the PNG. ``SessionReport.from_json`` reads a
``report.json`` back (older files with keys missing too) for compare, the results store, frames
and audits; a malformed one is a one-line ``ReportError``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from analyzer_drivers.formats.errors import ReportError
from reports.checks import Check, Status
from reports.crossval import CrossValidation
from reports.repeat import IntervalStats
from reports.report_json import Fields, JsonDict, JsonObject, json_dict, json_list
from reports.report_parts import ClockSection, Efficiency, PhasePower, PhaseSection
from reports.system_model import SystemSection

STATUSES = ("pass", "warning", "fail", "unknown")


#: session.json's keys copied into report.json's ``provenance``, in order.
PROVENANCE_KEYS = ("host", "command", "config_hash", "workload", "system_name", "system_from")


@dataclass(frozen=True, slots=True)
class RepeatRun:
    """One testing run of a repeated session."""

    run: int
    dir: str
    value: float | None  # the headline metric
    avg_watts: float | None
    samples_in_window: int
    duration_s: float
    loadgen_validity: str | None
    efficiency: Efficiency

    def to_json(self) -> JsonDict:
        return {"run": self.run, "dir": self.dir, "value": self.value, "avg_watts": self.avg_watts,
                "samples_in_window": self.samples_in_window, "duration_s": self.duration_s,
                "loadgen_validity": self.loadgen_validity, "efficiency": json_dict(self.efficiency.to_json())}

    @classmethod
    def from_json(cls, f: Fields) -> RepeatRun:
        return cls(f.count("run"), f.text("dir") or "", f.number("value"), f.number("avg_watts"),
                   f.count("samples_in_window"), f.real("duration_s"), f.text("loadgen_validity"),
                   Efficiency.from_json(f.sub("efficiency")))


@dataclass(frozen=True, slots=True)
class RepeatEfficiency:
    """One efficiency figure (``key``) across every run."""

    key: str
    stats: IntervalStats

    def to_json(self) -> JsonDict:
        return {"key": self.key, **self.stats.to_json()}


@dataclass(frozen=True, slots=True)
class RepeatSection:
    """Repeated testing runs: the headline metric of each and their interval."""

    metric: str
    unit: str
    confidence: float
    stats: IntervalStats
    runs: tuple[RepeatRun, ...]
    efficiency: RepeatEfficiency | None

    def to_json(self) -> JsonDict:
        return {"metric": self.metric, "unit": self.unit, "confidence": self.confidence,
                **self.stats.to_json(), "runs": json_list(r.to_json() for r in self.runs),
                "efficiency": self.efficiency.to_json() if self.efficiency else None}

    @classmethod
    def from_json(cls, f: Fields) -> RepeatSection:
        efficiency = f.sub("efficiency")
        runs = tuple(RepeatRun.from_json(Fields(r, f"{f.where}.runs[{i}]"))
                     for i, r in enumerate(f.items("runs")))
        return cls(f.text("metric") or "", f.text("unit") or "", f.real("confidence", 0.95),
                   IntervalStats.from_json(f), runs,
                   RepeatEfficiency(efficiency.text("key") or "", IntervalStats.from_json(efficiency))
                   if efficiency is not None else None)


@dataclass(frozen=True, slots=True)
class BesideMeter:
    """A meter measured beside the wall meter (RAPL, NVML), not added to it."""

    driver: str
    name: str | None
    avg_watts: float | None
    energy_j: float | None
    share_of_wall: float | None
    gap_s: float
    grade: str
    grade_reason: str
    cross_validation: CrossValidation | None

    def to_json(self) -> JsonDict:
        return {"name": self.name, "avg_watts": self.avg_watts, "energy_j": self.energy_j,
                "share_of_wall": self.share_of_wall, "gap_s": self.gap_s, "grade": self.grade,
                "grade_reason": self.grade_reason,
                "cross_validation": self.cross_validation.as_dict() if self.cross_validation else None}

    @classmethod
    def from_json(cls, driver: str, f: Fields) -> BesideMeter:
        versus = f.sub("cross_validation")
        return cls(driver, f.text("name"), f.number("avg_watts"), f.number("energy_j"),
                   f.number("share_of_wall"), f.real("gap_s"), f.text("grade") or "",
                   f.text("grade_reason") or "", _cross_validation(versus) if versus else None)


def _cross_validation(f: Fields) -> CrossValidation:
    return CrossValidation(f.real("offset_watts"), f.real("gain"), f.real("correlation"), f.real("lag_s"),
                           f.number("energy_difference_pct"), f.count("cells"), f.real("cell_s"),
                           f.real("residual_rms_watts"))


@dataclass(frozen=True, slots=True)
class SumMeter:
    """One of several supplies summed into the wall power, alone in the testing window."""

    role: str  # primary (the meter whose stamps the sum is on) or sum
    driver: str
    name: str | None
    interval_ms: int
    avg_watts: float | None  # time-weighted, over the testing window
    energy_j: float | None
    gap_s: float

    def to_json(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_json(cls, f: Fields) -> SumMeter:
        return cls(f.text("role") or "sum", f.text("driver") or "", f.text("name"), f.count("interval_ms"),
                   f.number("avg_watts"), f.number("energy_j"), f.real("gap_s"))


@dataclass(frozen=True, slots=True)
class Grade:
    label: str | None  # certified or informative
    reason: str | None

    def to_json(self) -> JsonDict:
        return {"label": self.label, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Provenance:
    host: str | None = None
    command: str | None = None
    config_hash: str | None = None
    workload: str | None = None
    system_name: str | None = None  # the system under test (power_director.config.system_name)
    system_from: str | None = None  # where that name came from

    def to_json(self) -> JsonDict:
        return asdict(self)


def _check(f: Fields) -> Check:
    status = f.text("status") or "unknown"
    if status not in STATUSES:
        raise ReportError(f"report.json: {f.where}.status is not one of {', '.join(STATUSES)}: "
                          f"{status!r:.40}")
    return Check(f.text("name") or "?", cast(Status, status), f.text("reason") or "")


#: report.json's keys that SessionReport reads into fields; any other key is kept in ``extra``.
KNOWN_KEYS = frozenset((
    "session", "label", "tool_version", "provenance", "scenario", "valid", "mlperf_valid", "mlperf_problems",
    "problems", "warnings", "unknown", "checks", "power", "uncertainty", "efficiency", "testing", "ranging",
    "analyzer", "ranges", "clock", "beside", "sum", "grade", "calibration", "system", "repeat", "measure",
    "eehpc",
))


@dataclass(frozen=True, slots=True)
class MeasureSection:
    """``measure``: a command's runs (``runs``) and their mean and interval (``summary``), kept
    as the JSON ``reports.build.measure_report`` builds, so it reads back as written."""

    data: dict[str, Any]

    def to_json(self) -> JsonDict:
        return self.data

    @property
    def runs(self) -> list[dict[str, Any]]:
        runs = self.data.get("runs")
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []


@dataclass(frozen=True, slots=True)
class SessionReport:
    """Everything ``report.json`` holds. ``testing`` is None only in a report read back from a
    session that never measured (a recovered one)."""

    session: str
    label: str | None
    tool_version: str | None
    provenance: Provenance
    scenario: str | None
    valid: bool
    mlperf_valid: bool
    checks: tuple[Check, ...]
    testing: PhaseSection | None
    ranging: PhaseSection | None
    uncertainty: JsonObject | None  # the headline's error budget (testing's)
    efficiency: Efficiency
    analyzer: JsonObject  # the primary meter as the session recorded it
    ranges: JsonObject  # per phase: volts and amps, or None for auto
    clock: ClockSection | None  # None: director and SUT share one clock
    beside: tuple[BesideMeter, ...] = ()
    sum: tuple[SumMeter, ...] = ()  # several supplies: each one's share of the wall power
    grade: Grade = Grade(None, None)
    calibration: JsonObject | None = None
    system: SystemSection | None = None  # multi-node: nodes, switches, their total
    repeat: RepeatSection | None = None
    measure: MeasureSection | None = None  # a command measured by ``power-director measure``
    eehpc: JsonObject | None = None  # the EEHPC level a measured command or multi-node run meets
    extra: JsonObject = field(default_factory=dict)  # an imported run's keys, or a recovered one's
    # Only for a report read back whose lists do not follow from its checks (an older or recovered one).
    lists: tuple[tuple[str, ...], ...] | None = None

    @property
    def power(self) -> PhasePower | None:
        """The testing phase's power: the report's headline figures."""
        return self.testing.power if self.testing else None

    def _reasons(self, *statuses: str) -> list[str]:
        return [c.reason for c in self.checks if c.status in statuses]

    @property
    def problems(self) -> list[str]:
        return list(self.lists[1]) if self.lists else self._reasons("fail")

    @property
    def mlperf_problems(self) -> list[str]:
        """Why MLCommons would not accept it: every check that did not pass."""
        return list(self.lists[0]) if self.lists else self._reasons("fail", "warning", "unknown")

    @property
    def warnings(self) -> list[str]:
        return list(self.lists[2]) if self.lists else self._reasons("warning")

    @property
    def unknown(self) -> list[str]:
        return list(self.lists[3]) if self.lists else self._reasons("unknown")

    @property
    def notes(self) -> list[str]:
        notes = self.extra.get("notes")
        return [str(n) for n in notes] if isinstance(notes, list) else []

    @property
    def recovered(self) -> bool:
        return bool(self.extra.get("recovered")) or self.testing is None

    def to_json(self) -> JsonDict:
        """``report.json``'s content, keys in the file's order."""
        testing = self.testing.to_json() if self.testing else None
        report: JsonDict = {
            "session": self.session, "label": self.label, "tool_version": self.tool_version,
            "provenance": self.provenance.to_json(), "scenario": self.scenario, "valid": self.valid,
            "mlperf_valid": self.mlperf_valid, "mlperf_problems": json_list(self.mlperf_problems),
            "problems": json_list(self.problems), "warnings": json_list(self.warnings),
            "unknown": json_list(self.unknown), "checks": json_list(c.as_dict() for c in self.checks),
            "power": testing["power"] if testing else None,
            "uncertainty": json_dict(self.uncertainty) if self.uncertainty is not None else None,
            "efficiency": json_dict(self.efficiency.to_json()), "testing": testing,
            "ranging": self.ranging.to_json() if self.ranging else None,
            "analyzer": json_dict(self.analyzer), "ranges": json_dict(self.ranges),
            "clock": self.clock.to_json() if self.clock is not None else None,
            "beside": {b.driver: b.to_json() for b in self.beside},
        }
        if self.sum:
            report["sum"] = json_list(m.to_json() for m in self.sum)
        report["grade"] = self.grade.to_json()
        if self.calibration is not None:
            report["calibration"] = json_dict(self.calibration)
        if self.system is not None:
            report["system"] = self.system.to_json()
        if self.repeat is not None:
            report["repeat"] = self.repeat.to_json()
        if self.measure is not None:
            report["measure"] = self.measure.to_json()
        if self.eehpc is not None:
            report["eehpc"] = dict(self.eehpc)
        return {**report, **self.extra}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: object) -> SessionReport:
        """A report from ``report.json``'s content; keys it lacks take their empty values."""
        f = Fields(data, "")
        testing, ranging = f.sub("testing"), f.sub("ranging")
        if testing is None and f.sub("power") is not None:  # before testing/ranging were split out
            testing = Fields({"power": f.data["power"]}, "power")
        grade, repeat = f.sub("grade") or Fields({}, "grade"), f.sub("repeat")
        provenance = f.sub("provenance") or Fields({}, "provenance")
        beside = f.sub("beside") or Fields({}, "beside")
        checks = tuple(_check(Fields(c, f"checks[{i}]")) for i, c in enumerate(f.items("checks")))
        report = cls(
            session=f.text("session") or "?", label=f.text("label"), tool_version=f.text("tool_version"),
            provenance=Provenance(*map(provenance.text, PROVENANCE_KEYS)),
            scenario=f.text("scenario"), valid=f.flag("valid"), mlperf_valid=f.flag("mlperf_valid"),
            checks=checks, testing=PhaseSection.from_json(testing) if testing else None,
            ranging=PhaseSection.from_json(ranging) if ranging else None,
            uncertainty=f.obj("uncertainty"), efficiency=Efficiency.from_json(f.sub("efficiency")),
            analyzer=f.obj("analyzer") or {}, ranges=f.obj("ranges") or {},
            clock=ClockSection.from_json(clock) if (clock := f.sub("clock")) else None,
            beside=tuple(BesideMeter.from_json(d, Fields(v, f"beside.{d}")) for d, v in beside.data.items()),
            sum=tuple(SumMeter.from_json(Fields(m, f"sum[{i}]")) for i, m in enumerate(f.items("sum"))),
            grade=Grade(grade.text("label"), grade.text("reason")), calibration=f.obj("calibration"),
            system=SystemSection.from_json(system) if (system := f.sub("system")) else None,
            repeat=RepeatSection.from_json(repeat) if repeat else None,
            measure=MeasureSection(measure) if isinstance(measure := f.data.get("measure"), dict) else None,
            eehpc=f.obj("eehpc"),
            extra={k: v for k, v in f.data.items() if k not in KNOWN_KEYS},
        )
        lists = tuple(f.texts(k) for k in ("mlperf_problems", "problems", "warnings", "unknown"))
        derived = tuple(tuple(x) for x in (report.mlperf_problems, report.problems, report.warnings,
                                           report.unknown))
        return report if lists == derived else _with_lists(report, lists)

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


def _with_lists(report: SessionReport, lists: tuple[tuple[str, ...], ...]) -> SessionReport:
    from dataclasses import replace

    return replace(report, lists=lists)
