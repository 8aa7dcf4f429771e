"""A finished (or aborted) session as one typed record, read from its directory alone.

``load_session`` is what the Python API, the results store and ``compare`` share: the
session directory stays the source of truth, and every view is derived from its files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import REPORT_JSON, SESSION_META, read_session_meta
from analyzer_drivers.formats.session_meta import SessionMeta
from reports.model.headline import headline, metric_uncertainty, verdict
from reports.model.report import SessionReport
from reports.report_parts import EFFICIENCY_UNITS as EFFICIENCY_UNITS


@dataclass(frozen=True, slots=True)
class SessionResult:
    """The headline facts of one session; ``report`` and ``meta`` hold everything else."""

    session: str
    path: Path
    label: str | None
    scenario: str | None
    status: str  # completed, aborted, running (killed without a report), unreported
    verdict: str
    valid: bool
    mlperf_valid: bool
    metric: str | None  # avg_watts or energy_per_query_mj
    value: float | None
    unit: str | None
    uncertainty: float | None  # ± in the metric's unit
    avg_watts: float | None
    energy_j: float | None
    duration_s: float | None
    efficiency: float | None
    efficiency_unit: str | None
    repeat_mean: float | None
    repeat_half_width: float | None
    repeat_n: int | None
    meter: str | None
    system: str | None
    started: str | None  # ISO 8601, UTC
    tool_version: str | None
    config_hash: str | None
    problems: tuple[str, ...] = ()
    report: SessionReport | None = field(default=None, repr=False, compare=False)
    meta: SessionMeta = field(default_factory=SessionMeta, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Completed with a result: what ``compare`` takes."""
        return self.status == "completed" and self.metric is not None


def is_session_dir(path: Path) -> bool:
    return (path / SESSION_META).is_file() or (path / REPORT_JSON).is_file()


def _started(meta: SessionMeta) -> str | None:
    for phase in meta.phases.values():
        began_s = phase.times.began_s
        if began_s is not None:
            return dt.datetime.fromtimestamp(began_s, dt.timezone.utc).isoformat(timespec="seconds")
    return None


def _meter(meta: SessionMeta, report: SessionReport | None) -> str | None:
    analyzer = report.analyzer if report and report.analyzer.written_keys() else meta.primary
    if not analyzer.written_keys():
        return None
    facts = analyzer.to_json()
    return f"{facts.get('name', '?')} ({facts.get('model', '?')}) via {facts.get('driver', '?')}"


def _efficiency(report: SessionReport | None) -> tuple[float | None, str | None]:
    first = report.efficiency.first() if report else None
    if first is None:
        return None, None
    return float(first[1]), EFFICIENCY_UNITS.get(first[0], first[0])


def system_name(meta: SessionMeta) -> str | None:
    """The system under test; a session from before ``system_name`` was recorded ran on the
    director's host unless a remote SUT (its clock exchanges) says otherwise."""
    if meta.system_name:
        return meta.system_name
    return None if meta.has("clock") or not meta.host else meta.host


def load_session(path: Path | str, built: SessionReport | None = None) -> SessionResult:
    """The session at ``path``: from ``report.json`` when there is one, else from
    ``session.json`` (an aborted or killed session, listed with no result). ``built``: the
    report the caller has just built and written (not read back)."""
    session_dir = Path(path)
    if not is_session_dir(session_dir):
        raise ReportError(f"{session_dir} is not a session directory: no {REPORT_JSON} or {SESSION_META}")
    meta = read_session_meta(session_dir)
    report_path = session_dir / REPORT_JSON
    report = built or (SessionReport.read(report_path) if report_path.is_file() else None)
    status = meta.status or ("completed" if report else "unreported")
    if report is not None and report.recovered:
        status = "aborted"
    power = report.power if report else None
    metric = headline(report) if report else None
    efficiency, efficiency_unit = _efficiency(report)
    repeat = report.repeat.stats if report and report.repeat else None
    return SessionResult(
        session=(report.session if report else None) or meta.session_name or session_dir.name,
        path=session_dir.resolve(),
        label=(report.label if report else None) or meta.label,
        scenario=report.scenario if report else None,
        status=status,
        verdict=verdict(report) if report else status.upper(),
        valid=bool(report and report.valid),
        mlperf_valid=bool(report and report.mlperf_valid),
        metric=metric.key if metric else None,
        value=metric.value if metric else None,
        unit=metric.unit if metric else None,
        uncertainty=metric_uncertainty(report) if report else None,
        avg_watts=power.avg_watts if power else None,
        energy_j=power.energy_j if power else None,
        duration_s=power.duration_s if power else None,
        efficiency=efficiency,
        efficiency_unit=efficiency_unit,
        repeat_mean=repeat.mean if repeat else None,
        repeat_half_width=repeat.half_width if repeat else None,
        repeat_n=repeat.n if repeat else None,
        meter=_meter(meta, report),
        system=system_name(meta),
        started=_started(meta),
        tool_version=(report.tool_version if report else None) or meta.tool_version,
        config_hash=meta.config_hash,
        problems=tuple(report.problems) if report else ((meta.error,) if meta.error else ()),
        report=report,
        meta=meta,
    )
