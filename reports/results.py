"""A finished (or aborted) session as one typed record, read from its directory alone.

``load_session`` is what the Python API, the results store and ``compare`` share: the
session directory stays the source of truth, and every view is derived from its files.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import REPORT_JSON, SESSION_META, read_session_meta
from analyzer_drivers.formats.session_meta import SessionMeta
from reports.headline import headline, metric_uncertainty, verdict

EFFICIENCY_UNITS = {
    "samples_per_second_per_watt": "samples/s/W",
    "queries_per_joule": "queries/J",
    "samples_per_joule": "samples/J",
}


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
    report: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    meta: SessionMeta = field(default_factory=SessionMeta, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        """Completed with a result: what ``compare`` takes."""
        return self.status == "completed" and self.metric is not None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ReportError(f"{path} does not hold an object")
    return data


def is_session_dir(path: Path) -> bool:
    return (path / SESSION_META).is_file() or (path / REPORT_JSON).is_file()


def _started(meta: SessionMeta) -> str | None:
    for phase in meta.phases.values():
        began_s = phase.times.began_s
        if began_s is not None:
            return dt.datetime.fromtimestamp(began_s, dt.timezone.utc).isoformat(timespec="seconds")
    return None


def _meter(meta: SessionMeta, report: dict[str, Any]) -> str | None:
    analyzer = report.get("analyzer") or meta.primary.to_json()
    if not analyzer:
        return None
    return f"{analyzer.get('name', '?')} ({analyzer.get('model', '?')}) via {analyzer.get('driver', '?')}"


def _efficiency(report: dict[str, Any]) -> tuple[float | None, str | None]:
    for key, value in (report.get("efficiency") or {}).items():
        if isinstance(value, (int, float)):
            return float(value), EFFICIENCY_UNITS.get(key, key)
    return None, None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def load_session(path: Path | str) -> SessionResult:
    """The session at ``path``: from ``report.json`` when there is one, else from
    ``session.json`` (an aborted or killed session, listed with no result)."""
    session_dir = Path(path)
    if not is_session_dir(session_dir):
        raise ReportError(f"{session_dir} is not a session directory: no {REPORT_JSON} or {SESSION_META}")
    meta = read_session_meta(session_dir)
    report_path = session_dir / REPORT_JSON
    report = _read_json(report_path) if report_path.is_file() else {}
    status = meta.status or ("completed" if report else "unreported")
    if report.get("recovered") or (report and not report.get("power")):
        status = "aborted"
    power = report.get("power") or {}
    metric = headline(report) if report else None
    efficiency, efficiency_unit = _efficiency(report)
    repeat = report.get("repeat") or {}
    return SessionResult(
        session=str(report.get("session") or meta.session_name or session_dir.name),
        path=session_dir.resolve(),
        label=report.get("label") or meta.label,
        scenario=report.get("scenario"),
        status=status,
        verdict=verdict(report) if report else status.upper(),
        valid=bool(report.get("valid")),
        mlperf_valid=bool(report.get("mlperf_valid")),
        metric=metric.key if metric else None,
        value=metric.value if metric else None,
        unit=metric.unit if metric else None,
        uncertainty=metric_uncertainty(report) if report else None,
        avg_watts=_float(power.get("avg_watts")),
        energy_j=_float(power.get("energy_j")),
        duration_s=_float(power.get("duration_s")),
        efficiency=efficiency,
        efficiency_unit=efficiency_unit,
        repeat_mean=_float(repeat.get("mean")),
        repeat_half_width=_float(repeat.get("half_width")),
        repeat_n=repeat.get("n") if isinstance(repeat.get("n"), int) else None,
        meter=_meter(meta, report),
        system=meta.workload,  # (a multinode session's ``system`` is its layout, no text)
        started=_started(meta),
        tool_version=report.get("tool_version") or meta.tool_version,
        config_hash=meta.config_hash,
        problems=tuple(str(p) for p in report.get("problems", [])) if report else (
            (meta.error,) if meta.error else ()),
        report=report,
        meta=meta,
    )
