"""From a session directory's files to ``report.json`` and a short human summary."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, Window, parse_detail_log
from reports import checks
from reports.checks import Check
from reports.metrics import PER_QUERY_SCENARIOS, mlperf_power, weighted_energy
from reports.spl import PowerSeries, read_spl

PHASE_DIRS = {"ranging": "ranging", "testing": "run_1"}
SESSION_META = "session.json"
REPORT_JSON = "report.json"


class ReportError(Exception):
    """A session directory lacks what a report needs."""


@dataclass(frozen=True)
class PhaseReport:
    phase: str
    window: Window
    series: PowerSeries  # the samples of this phase's mark
    interval_ns: int
    power: dict[str, Any]


def _interval_ns(meta: dict[str, Any], series: PowerSeries) -> int:
    interval_ms = meta.get("interval_ms")
    if isinstance(interval_ms, int) and interval_ms > 0:
        return interval_ms * 1_000_000
    steps = np.diff(np.sort(series.t_ns))
    return int(np.median(steps)) if len(steps) else 1_000_000_000


def phase_report(session_dir: Path, phase: str, meta: dict[str, Any]) -> PhaseReport:
    phase_dir = session_dir / PHASE_DIRS[phase]
    try:
        window = parse_detail_log(phase_dir / DETAIL_LOG)
    except LoadgenLogError as exc:
        raise ReportError(f"{phase}: {exc}") from exc
    series = read_spl(phase_dir / "spl.txt")
    mlperf = mlperf_power(series, window.begin_ns, window.end_ns, window.scenario, window.query_count)
    interval_ns = _interval_ns(meta, series)
    weighted = weighted_energy(series.t_ns, series.watts, window.begin_ns, window.end_ns, interval_ns)
    power: dict[str, Any] = {
        "avg_watts": mlperf.avg_watts,
        "samples_in_window": mlperf.samples_in_window,
        "window_begin": window.power_begin,
        "window_end": window.power_end,
        "duration_s": mlperf.duration_s,
        "energy_j": mlperf.energy_j,
        "energy_per_query_mj": mlperf.energy_per_query_mj,
        "queries": window.query_count,
        "time_weighted": asdict(weighted),
    }
    if mlperf.energy_j and weighted.energy_j:
        power["method_difference_pct"] = 100 * (weighted.energy_j - mlperf.energy_j) / mlperf.energy_j
    return PhaseReport(phase, window, series, interval_ns, power)


def _efficiency(window: Window, power: dict[str, Any]) -> dict[str, float]:
    avg_watts = power["avg_watts"]
    if not avg_watts:
        return {}
    if window.scenario in PER_QUERY_SCENARIOS:
        per_query_mj = power["energy_per_query_mj"]
        if not per_query_mj:
            return {}
        return {
            "queries_per_joule": 1000 / per_query_mj,
            "samples_per_joule": 1000 * window.samples_per_query / per_query_mj,
        }
    if window.result is None:
        return {}
    return {"samples_per_second_per_watt": window.result / avg_watts}


def _phase_checks(phase: PhaseReport) -> list[Check]:
    t_ns = phase.series.t_ns
    # The first sample averages over the interval before its stamp: measuring began then.
    measured_from = int(t_ns.min()) - phase.interval_ns if len(t_ns) else None
    return [
        checks.samples_in_window(phase.phase, phase.power["samples_in_window"]),
        checks.window_inside_measurement(
            phase.phase, phase.window.begin_ns, phase.window.end_ns,
            measured_from, int(t_ns.max()) if len(t_ns) else None,
        ),
        checks.loadgen_valid(phase.phase, phase.window.validity),
    ]


def _loadgen_summary(window: Window) -> dict[str, Any]:
    return {
        "scenario": window.scenario,
        "validity": window.validity,
        "result_name": window.result_name,
        "result": window.result,
        "query_count": window.query_count,
        "samples_per_query": window.samples_per_query,
        "min_duration_ms": window.min_duration_ms,
    }


def read_session_meta(session_dir: Path) -> dict[str, Any]:
    path = session_dir / SESSION_META
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    return meta if isinstance(meta, dict) else {}


def build_report(session_dir: Path) -> dict[str, Any]:
    """Everything ``report.json`` holds, computed from the session's files alone."""
    if not session_dir.is_dir():
        raise ReportError(f"no session directory at {session_dir}")
    meta = read_session_meta(session_dir)
    ranging = phase_report(session_dir, "ranging", meta)
    testing = phase_report(session_dir, "testing", meta)
    all_checks = [
        *_phase_checks(ranging),
        *_phase_checks(testing),
        checks.testing_power_vs_ranging(testing.power["avg_watts"], ranging.power["avg_watts"]),
        checks.testing_duration_vs_ranging(testing.window.duration_s, ranging.window.duration_s),
        checks.mlperf_duration(testing.power["duration_s"]),
    ]
    if meta.get("status", "completed") != "completed":
        all_checks.append(Check("session_completed", "fail", str(meta.get("error", "aborted"))))
    problems = [c.reason for c in all_checks if c.status == "fail"]
    return {
        "session": meta.get("session_name", session_dir.name),
        "label": meta.get("label"),
        "scenario": testing.window.scenario,
        "valid": not problems,
        "mlperf_valid": not problems and all(c.status == "pass" for c in all_checks),
        "problems": problems,
        "warnings": [c.reason for c in all_checks if c.status == "warning"],
        "checks": [c.as_dict() for c in all_checks],
        "power": testing.power,
        "efficiency": _efficiency(testing.window, testing.power),
        "testing": {"power": testing.power, "loadgen": _loadgen_summary(testing.window)},
        "ranging": {"power": ranging.power, "loadgen": _loadgen_summary(ranging.window)},
        "analyzer": meta.get("analyzer", {}),
        "ranges": meta.get("ranges", {}),
    }


def write_report(session_dir: Path) -> dict[str, Any]:
    report = build_report(session_dir)
    (session_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    from reports.html import write_html_report  # imported here: reports.html builds on this module

    write_html_report(session_dir, report)
    return report


def summary_text(report: dict[str, Any]) -> str:
    """A few lines a person reads at the end of a run."""
    power = report["power"]
    scenario = report["scenario"]
    if scenario in PER_QUERY_SCENARIOS and power["energy_per_query_mj"] is not None:
        headline = f"{power['energy_per_query_mj']:.3f} mJ/query"
    elif power["avg_watts"] is not None:
        headline = f"{power['avg_watts']:.2f} W"
    else:
        headline = "no result"
    verdict = "valid" if report["valid"] else "INVALID"
    if report["valid"] and not report["mlperf_valid"]:
        verdict = "valid (not MLPerf-valid)"
    ranging_watts = report["ranging"]["power"]["avg_watts"]
    lines = [
        f"{report['session']}: {scenario} {headline}  [{verdict}]",
        f"  testing: {power['avg_watts'] or 0:.2f} W avg over {power['duration_s']:.3f} s, "
        f"{power['samples_in_window']} samples; ranging: {ranging_watts or 0:.2f} W",
    ]
    lines += [f"  problem: {p}" for p in report["problems"]]
    lines += [f"  warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)
