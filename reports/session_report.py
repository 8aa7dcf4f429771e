"""From a session directory's files to ``report.json`` and a short human summary."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analyzer_drivers.base import ERROR_READING, MISSED_SAMPLE, AnalyzerError
from analyzer_drivers.formats.errors import ReportError as ReportError
from analyzer_drivers.meters import MeterSpec, meter_spec
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, Window, parse_detail_log
from reports import checks
from reports.checks import Check
from reports.clock_report import clock_checks, clock_section, corrected_window
from reports.comparison import comparison_accuracy, comparison_checks, stated_uncertainty
from reports.crossval import calibration_section, cross_validate, grade_checks, meter_grade
from reports.headline import headline, metric_uncertainty, verdict
from reports.metrics import (
    PER_QUERY_SCENARIOS,
    WeightedEnergy,
    mlperf_power,
    mlperf_window_mask,
    weighted_energy,
)
from reports.mlperf_checks import mlperf_checks
from reports.repeat import CONFIDENCE, interval_stats
from reports.spl import PowerSeries, read_spl
from reports.uncertainty import (
    STAMP_RESOLUTION_S,
    SampleUncertainty,
    clock_error_w,
    edge_error_w,
    error_budget,
)
from reports.version import tool_version

PHASE_DIRS = {"ranging": "ranging", "testing": "run_1"}
SESSION_META = "session.json"
REPORT_JSON = "report.json"
_REPEAT = re.compile(r"testing_([2-9]|[1-9]\d+)")


def repeat_phase(run: int) -> str:
    """The phase name of testing run ``run`` (1-based): ``testing``, ``testing_2``, …"""
    return "testing" if run == 1 else f"testing_{run}"


def phase_dir(phase: str) -> str:
    """The directory of a phase: ``ranging``, ``run_1`` for testing, ``run_k`` for testing_k."""
    if phase in PHASE_DIRS:
        return PHASE_DIRS[phase]
    match = _REPEAT.fullmatch(phase)
    if match is None:
        raise ReportError(f"unknown phase {phase!r}")
    return f"run_{match.group(1)}"


@dataclass(frozen=True)
class PhaseReport:
    phase: str
    window: Window
    series: PowerSeries  # the samples of this phase's mark
    interval_ns: int
    weighted: WeightedEnergy
    sample_uncertainty: SampleUncertainty | None
    power: dict[str, Any]


def _interval_ns(meta: dict[str, Any], series: PowerSeries) -> int:
    interval_ms = meta.get("interval_ms")
    if isinstance(interval_ms, int) and interval_ms > 0:
        return interval_ms * 1_000_000
    steps = np.diff(np.sort(series.t_ns))
    return int(np.median(steps)) if len(steps) else 1_000_000_000


#: How an imported run's evidence adjusts a phase: (phase, window, series) -> (window, series).
Adjust = Callable[[str, Window, PowerSeries], tuple[Window, PowerSeries]]


@dataclass(frozen=True)
class ImportHooks:
    """What a run we did not record brings instead of a journal (see reports.mlperf_import)."""

    adjust: Adjust
    checks: Callable[[PhaseReport, PhaseReport], list[Check]]  # replace same-named checks
    extra: Callable[[PhaseReport, PhaseReport], dict[str, Any]]  # more report.json keys


def phase_report(
    session_dir: Path, phase: str, meta: dict[str, Any], adjust: Adjust | None = None
) -> PhaseReport:
    directory = session_dir / phase_dir(phase)
    try:
        window = parse_detail_log(directory / DETAIL_LOG)
    except LoadgenLogError as exc:
        raise ReportError(f"{phase}: {exc}") from exc
    window = corrected_window(window, meta, phase)
    series = read_spl(directory / "spl.txt")
    if adjust is not None:
        window, series = adjust(phase, window, series)
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
        "query_source": window.query_source,
        "time_weighted": asdict(weighted),
    }
    if mlperf.energy_j and weighted.energy_j:
        power["method_difference_pct"] = 100 * (weighted.energy_j - mlperf.energy_j) / mlperf.energy_j
    power["coverage"] = _coverage(mlperf.samples_in_window, weighted, interval_ns, mlperf.duration_s)
    in_window = series.take(mlperf_window_mask(series, window.begin_ns, window.end_ns))
    uncertainty = _sample_uncertainty(phase, in_window, meta)
    if mlperf.avg_watts is not None:
        budget = error_budget(
            mlperf.avg_watts,
            in_window.watts,
            uncertainty,
            edge_error_w(series.t_ns, series.watts, window.begin_ns, window.end_ns, interval_ns),
            clock_error_w(in_window.watts, mlperf.duration_s, _clock_bound_s(meta)),
        )
        power["uncertainty"] = budget.as_dict(mlperf.energy_per_query_mj)
    return PhaseReport(phase, window, series, interval_ns, weighted, uncertainty, power)


def _coverage(
    received: int, weighted: WeightedEnergy, interval_ns: int, duration_s: float
) -> dict[str, Any]:
    return {
        "expected_samples": duration_s / (interval_ns / 1e9),
        "received_samples": received,
        "invalid_samples": weighted.invalid_samples,
        "fraction": weighted.covered_s / duration_s if duration_s > 0 else 0.0,
        "gap_count": weighted.gap_count,
        "longest_gap_s": weighted.longest_gap_s,
        "interval_s": interval_ns / 1e9,
    }


def _clock_bound_s(meta: dict[str, Any]) -> float:
    clock = meta.get("clock")
    bound_ns = clock.get("bound_ns") if isinstance(clock, dict) else None
    return max(float(bound_ns) / 1e9, STAMP_RESOLUTION_S) if bound_ns else STAMP_RESOLUTION_S


def _range_of(snap: Any, value: float) -> float:
    try:
        return float(snap(value))
    except AnalyzerError:
        return float("nan")


def _per_sample_ranges(
    spec: MeterSpec, ranges: dict[str, Any], series: PowerSeries
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The ranges each sample was taken at: fixed, or what auto-ranging would pick for it."""
    volts = ranges.get("volts")
    amps = ranges.get("amps")
    volts_ranges = np.full(len(series), volts) if volts else np.array(
        [_range_of(spec.snap_volts, v) for v in series.volts])
    amps_ranges = np.full(len(series), amps) if amps else np.array(
        [_range_of(spec.snap_amps, a) for a in series.amps])
    return volts_ranges, amps_ranges


def _sample_uncertainty(
    phase: str, in_window: PowerSeries, meta: dict[str, Any]
) -> SampleUncertainty | None:
    """Per-sample uncertainty from the meter's accuracy spec (a plug's stated accuracy), else
    PTDaemon's reported mean."""
    stated = comparison_accuracy(meta)
    if stated is not None:
        return stated_uncertainty(stated, in_window.watts)
    spec = meter_spec(str(meta.get("analyzer", {}).get("model", "")))
    if spec is not None:
        ranges = meta.get("ranges", {}).get(phase) or {}
        volts_ranges, amps_ranges = _per_sample_ranges(spec, ranges, in_window)
        # Each sample's power factor adds the manual's PF term (meters.MeterSpec.sample_uncertainty).
        relative = np.array([
            spec.sample_uncertainty(w, v, a, pf=pf)
            for w, v, a, pf in zip(in_window.watts, volts_ranges, amps_ranges, in_window.pf, strict=True)
        ])
        return SampleUncertainty(relative, f"{spec.model} accuracy spec at the ranges in use")
    mean = meta.get("phases", {}).get(phase, {}).get("uncertainty_mean")
    if isinstance(mean, float) and mean >= 0:
        return SampleUncertainty(np.full(len(in_window), mean), "mean uncertainty reported by the analyzer")
    return None


def _beside_meters(session_dir: Path, meta: dict[str, Any], testing: PhaseReport) -> dict[str, Any]:
    """Meters measured beside the wall meter (RAPL, NVML): their power in the testing window."""
    mark = meta.get("phases", {}).get("testing", {}).get("mark")
    beside = {}
    for analyzer in meta.get("analyzers", []):
        if analyzer.get("role") != "beside" or not mark:
            continue
        series = read_spl(session_dir / "raw" / f"{analyzer['driver']}.samples.txt").with_mark(mark)
        energy = weighted_energy(series.t_ns, series.watts, testing.window.begin_ns,
                                 testing.window.end_ns, testing.interval_ns)
        wall_watts = testing.power["time_weighted"]["avg_watts"]
        versus = cross_validate((testing.series.t_ns, testing.series.watts), (series.t_ns, series.watts),
                                testing.window.begin_ns, testing.window.end_ns, testing.interval_ns)
        grade, why = meter_grade(analyzer)
        beside[analyzer["driver"]] = {
            "name": analyzer.get("name"),
            "avg_watts": energy.avg_watts,
            "energy_j": energy.energy_j,
            "share_of_wall": energy.avg_watts / wall_watts if energy.avg_watts and wall_watts else None,
            "gap_s": energy.gap_s,
            "grade": grade, "grade_reason": why,
            "cross_validation": versus.as_dict() if versus else None,
        }
    return beside


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


def _phase_times(meta: dict[str, Any], phase: str) -> tuple[float | None, float | None]:
    """Wall times (s) after the analyzer's start reply and after the workload, if recorded."""
    times = meta.get("phases", {}).get(phase, {}).get("times", [])
    if len(times) >= 3:
        return float(times[1][0]), float(times[2][0])
    return None, None


def _phase_clock(phase: PhaseReport, meta: dict[str, Any]) -> checks.PhaseClock:
    """The director's record of a phase that the analyzer's timestamps must agree with."""
    recorded = meta.get("phases", {}).get(phase.phase, {})
    driver = meta.get("analyzer", {}).get("driver")
    outages = [(int(g["lost_t_ns"]), int(g["back_t_ns"])) for g in meta.get("reconnects", [])
               if isinstance(g, dict) and g.get("mark") == recorded.get("mark")
               and g.get("analyzer") == driver and "lost_t_ns" in g and "back_t_ns" in g]
    times = recorded.get("times", [])
    began, ended = (int(times[0][0] * 1e9), int(times[-1][0] * 1e9)) if len(times) >= 4 else (None, None)
    return checks.PhaseClock(phase.phase, phase.interval_ns, outages, began, ended)


def _error_readings(series: PowerSeries) -> int:
    """Samples holding a PTDaemon sentinel (-1 error, -2 missed) or NaN."""
    watts = series.watts
    return int(np.count_nonzero(np.isnan(watts) | (watts == ERROR_READING) | (watts == MISSED_SAMPLE)))


def _testing_checks(testing: PhaseReport, meta: dict[str, Any]) -> list[Check]:
    uncertainty = testing.sample_uncertainty
    in_window = testing.series.take(
        mlperf_window_mask(testing.series, testing.window.begin_ns, testing.window.end_ns)
    )
    ranges = meta.get("ranges", {}).get("testing") or {}
    overloaded = 0
    for key, values in (("volts", in_window.volts), ("amps", in_window.amps)):
        if ranges.get(key):
            overloaded += int(np.count_nonzero(values > checks.OVERLOAD_FACTOR * ranges[key]))
    errors = int(np.count_nonzero(testing.series.watts == -1.0))
    if comparison_accuracy(meta) is not None:
        return [*comparison_checks(uncertainty, len(in_window)), checks.range_overload(overloaded, errors)]
    return [
        checks.sample_uncertainty(
            uncertainty.above_one_percent if uncertainty else None, len(in_window),
            uncertainty.source if uncertainty else "no accuracy spec or analyzer figure",
        ),
        checks.range_overload(overloaded, errors),
    ]


def _phase_checks(phase: PhaseReport, meta: dict[str, Any]) -> list[Check]:
    t_ns = phase.series.t_ns
    coverage = phase.power["coverage"]
    # The first sample averages over the interval before its stamp: measuring began then.
    measured_from = int(t_ns.min()) - phase.interval_ns if len(t_ns) else None
    return [
        checks.samples_in_window(phase.phase, phase.power["samples_in_window"]),
        checks.window_inside_measurement(
            phase.phase, phase.window.begin_ns, phase.window.end_ns,
            measured_from, int(t_ns.max()) if len(t_ns) else None,
        ),
        checks.loadgen_valid(phase.phase, phase.window.validity),
        checks.window_inside_phase(
            phase.phase, phase.window.begin_ns, phase.window.end_ns, *_phase_times(meta, phase.phase)
        ),
        checks.coverage(
            phase.phase, coverage["fraction"], coverage["longest_gap_s"], coverage["interval_s"]
        ),
        checks.analyzer_clock(t_ns, _phase_clock(phase, meta)),
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


def _reconnect_check(meta: dict[str, Any]) -> Check:
    gaps = [g for g in meta.get("reconnects", []) if isinstance(g, dict)]
    outages_s = [(g.get("back_t_ns", 0) - g.get("lost_t_ns", 0)) / 1e9 for g in gaps]
    return checks.analyzer_reconnects(outages_s, sum(bool(g.get("restarted")) for g in gaps))


def _replace_checks(all_checks: list[Check], replacements: list[Check]) -> list[Check]:
    by_name = {c.name: c for c in replacements}
    kept = [by_name.pop(c.name, c) for c in all_checks]
    return kept + list(by_name.values())


def build_report(
    session_dir: Path, meta: dict[str, Any] | None = None, hooks: ImportHooks | None = None
) -> dict[str, Any]:
    """Everything ``report.json`` holds, computed from the session's files alone (read, never
    written). ``meta`` and ``hooks`` stand in for the journal of a run we did not record."""
    if not session_dir.is_dir():
        raise ReportError(f"no session directory at {session_dir}")
    if meta is None:
        meta = read_session_meta(session_dir)
    adjust = hooks.adjust if hooks else None
    ranging = phase_report(session_dir, "ranging", meta, adjust)
    testing = phase_report(session_dir, "testing", meta, adjust)
    all_checks = [
        *_phase_checks(ranging, meta),
        *_phase_checks(testing, meta),
        *_testing_checks(testing, meta),
        checks.ranging_error_readings(_error_readings(ranging.series)),
        checks.testing_power_vs_ranging(testing.power["avg_watts"], ranging.power["avg_watts"]),
        checks.testing_duration_vs_ranging(testing.window.duration_s, ranging.window.duration_s),
        checks.mlperf_duration(testing.power["duration_s"]),
        *clock_checks(meta),
        _reconnect_check(meta),
        *mlperf_checks(meta),
        *grade_checks(meta),
    ]
    if meta.get("reused_ranging"):
        all_checks.append(Check(
            "ranging_reused", "warning",
            f"ranges reused from {meta['reused_ranging'].get('session')} without a ranging run of "
            "its own: not MLPerf-valid",
        ))
    if meta.get("status", "completed") != "completed":
        all_checks.append(Check("session_completed", "fail", str(meta.get("error", "aborted"))))
    if hooks is not None:
        all_checks = _replace_checks(all_checks, hooks.checks(ranging, testing))
    problems = [c.reason for c in all_checks if c.status == "fail"]
    return {
        "session": meta.get("session_name", session_dir.name),
        "label": meta.get("label"),
        "tool_version": meta.get("tool_version") or tool_version(),
        "provenance": {key: meta.get(key) for key in ("host", "command", "config_hash", "workload")},
        "scenario": testing.window.scenario,
        "valid": not problems,
        "mlperf_valid": not problems and all(c.status == "pass" for c in all_checks),
        # why MLCommons would not accept it (every check that did not pass)
        "mlperf_problems": [c.reason for c in all_checks if c.status != "pass"],
        "problems": problems,
        "warnings": [c.reason for c in all_checks if c.status == "warning"],
        "unknown": [c.reason for c in all_checks if c.status == "unknown"],
        "checks": [c.as_dict() for c in all_checks],
        "power": testing.power,
        "uncertainty": testing.power.get("uncertainty"),
        "efficiency": _efficiency(testing.window, testing.power),
        "testing": {"power": testing.power, "loadgen": _loadgen_summary(testing.window)},
        "ranging": {"power": ranging.power, "loadgen": _loadgen_summary(ranging.window)},
        "analyzer": meta.get("analyzer", {}),
        "ranges": meta.get("ranges", {}),
        "clock": clock_section(meta),
        "beside": _beside_meters(session_dir, meta, testing),
        "grade": dict(zip(("label", "reason"), meter_grade(meta.get("analyzer", {})), strict=True)),
        **calibration_section(meta, testing.power),
        **_repeat_section(session_dir, meta, testing),
        **(hooks.extra(ranging, testing) if hooks else {}),
    }


def _run_summary(run: int, phase: PhaseReport, key: str) -> dict[str, Any]:
    return {
        "run": run, "dir": phase_dir(repeat_phase(run)), "value": phase.power.get(key),
        "avg_watts": phase.power["avg_watts"], "samples_in_window": phase.power["samples_in_window"],
        "duration_s": phase.power["duration_s"], "loadgen_validity": phase.window.validity,
        "efficiency": _efficiency(phase.window, phase.power),
    }


def _efficiency_interval(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first efficiency figure of run 1 across every run: mean, stdev, 95 % interval."""
    keys = list(runs[0]["efficiency"])
    if not keys:
        return None
    values = [float(r["efficiency"].get(keys[0], float("nan"))) for r in runs]
    return {"key": keys[0], **interval_stats(values)}


def _repeat_section(session_dir: Path, meta: dict[str, Any], testing: PhaseReport) -> dict[str, Any]:
    """With repeated testing runs: each run's metric and their mean, stdev and 95 % interval."""
    phases = [p for p in meta.get("phases", {}) if _REPEAT.fullmatch(p)]
    if not phases:
        return {}
    metric = headline({"scenario": testing.window.scenario, "power": testing.power})
    runs = [_run_summary(1, testing, metric.key)]
    for run in range(2, len(phases) + 2):
        runs.append(_run_summary(run, phase_report(session_dir, repeat_phase(run), meta), metric.key))
    values = [float("nan") if r["value"] is None else float(r["value"]) for r in runs]
    return {"repeat": {
        "metric": metric.key, "unit": metric.unit, "confidence": CONFIDENCE,
        **interval_stats(values), "runs": runs, "efficiency": _efficiency_interval(runs),
    }}


def write_report(session_dir: Path) -> dict[str, Any]:
    report = build_report(session_dir)
    (session_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    from reports.html import write_html_report  # imported here: reports.html builds on this module

    write_html_report(session_dir, report)
    return report


def summary_text(report: dict[str, Any]) -> str:
    """A few lines a person reads at the end of a run."""
    power = report["power"]
    metric = headline(report)
    error = metric_uncertainty(report)
    text = metric.text()
    if error is not None and metric.value is not None:
        digits = 3 if metric.unit == "mJ/query" else 2
        text = f"{metric.value:.{digits}f} ± {error:.{digits}f} {metric.unit}{_partial(report)}"
    ranging_watts = report["ranging"]["power"]["avg_watts"]
    lines = [
        f"{report['session']}: {report['scenario']} {text}  [{verdict(report)}]",
        f"  testing: {power['avg_watts'] or 0:.2f} W avg over {power['duration_s']:.3f} s, "
        f"{power['samples_in_window']} samples; ranging: {ranging_watts or 0:.2f} W",
    ]
    lines += _repeat_lines(report.get("repeat"))
    lines += [f"  problem: {p}" for p in report["problems"]]
    lines += [f"  warning: {w}" for w in report["warnings"]]
    lines += [f"  unknown: {u}" for u in report.get("unknown", [])]
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)


def _partial(report: dict[str, Any]) -> str:
    """A ± without the analyzer's accuracy is only the window and clock terms: say so."""
    terms = (report.get("uncertainty") or {}).get("terms_watts", {})
    return " (partial: analyzer accuracy unknown)" if terms.get("analyzer") is None else ""


def repeat_text(repeat: dict[str, Any]) -> str:
    """``mean ± half-width unit (95 % CI [low, high], n runs)``."""
    digits = 3 if repeat.get("unit") == "mJ/query" else 2
    unit = repeat.get("unit", "")
    if repeat.get("ci95") is None:
        mean = repeat.get("mean")
        return "no interval" if mean is None else f"{mean:.{digits}f} {unit} (n={repeat['n']}, no interval)"
    low, high = repeat["ci95"]
    return (f"{repeat['mean']:.{digits}f} ± {repeat['half_width']:.{digits}f} {unit} "
            f"(95 % CI [{low:.{digits}f}, {high:.{digits}f}], sd {repeat['stdev']:.{digits}f}, "
            f"n={repeat['n']})")


def _repeat_lines(repeat: dict[str, Any] | None) -> list[str]:
    if not repeat:
        return []
    digits = 3 if repeat.get("unit") == "mJ/query" else 2
    values = ", ".join("—" if r["value"] is None else f"{r['value']:.{digits}f}" for r in repeat["runs"])
    return [f"  repeat: {repeat_text(repeat)}", f"  runs: {values}"]
