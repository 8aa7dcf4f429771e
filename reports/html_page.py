"""The body of ``report.html``, written for a person: the verdict and headline with its ±
first, failures first, human labels and units, ISO dates, then the detail."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from reports.headline import headline, iso_time, metric_uncertainty, verdict
from reports.repeat import CONFIDENCE
from reports.results import EFFICIENCY_UNITS
from reports.summary import repeat_text

PHASES = ("testing", "ranging")
STATUS_ORDER = {"fail": 0, "warning": 1, "pass": 2}
CHECK_LABELS = {
    "samples_in_window": "samples inside the LoadGen window",
    "window_inside_measurement": "LoadGen window inside the measured interval",
    "loadgen_valid": "LoadGen run valid",
    "window_inside_phase": "LoadGen window inside the phase",
    "sample_coverage": "sample coverage",
    "analyzer_clock": "analyzer's own clock",
    "sample_uncertainty": "per-sample uncertainty ≤ 1 %",
    "range_overload": "range overload",
    "error_readings": "error readings",
    "power_vs_ranging": "testing power not > 5 % below ranging",
    "duration_vs_ranging": "testing not > 50 % shorter than ranging",
    "mlperf_min_duration": "at least 600 s for MLPerf",
    "clock_offset": "director–SUT clock offset",
    "analyzer_reconnects": "analyzer reconnects",
    "session_completed": "session completed",
    "ranging_reused": "ranging reused from another session",
}
BUDGET_LABELS = {"analyzer": "analyzer accuracy", "window_edges": "window edges",
                 "clock_alignment": "clock alignment"}


def number(value: Any, digits: int = 2, unit: str = "") -> str:
    """A number for people: fixed digits, thousands separated, unit after a space."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else escape(str(value))
    if not math.isfinite(value):
        return escape(str(value))
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return f"{text}\u202f{escape(unit)}" if unit else text


def percent(fraction: Any, digits: int = 2) -> str:
    return number(100 * fraction, digits, "%") if isinstance(fraction, (int, float)) else "—"


def check_label(name: str) -> tuple[str, str]:
    """(phase or "", what it checks) for a check name like ``testing_sample_coverage``."""
    for phase in ("ranging", "testing"):
        rest = name.removeprefix(f"{phase}_")
        if rest != name and rest in CHECK_LABELS:
            return phase, CHECK_LABELS[rest]
    return "", CHECK_LABELS.get(name, name.replace("_", " "))


def table(head: list[str], rows: list[list[str]], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table{cls}><tr>{header}</tr>{body}</table>"


def _pairs(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _badge(status: str, text: str | None = None) -> str:
    style = status if status in ("pass", "warning", "fail", "unknown", "valid", "partial", "invalid") else ""
    return f'<span class="badge {style}">{escape(text or status)}</span>'


def headline_text(report: dict[str, Any]) -> str:
    metric = headline(report)
    if metric.value is None:
        return "no result"
    digits = 3 if metric.unit == "mJ/query" else 2
    error = metric_uncertainty(report)
    plus_minus = f" ± {number(error, digits)}" if error is not None else ""
    return f"{number(metric.value, digits)}{plus_minus} {escape(metric.unit)}"


def header(report: dict[str, Any]) -> str:
    style = "invalid" if not report.get("valid") else "valid" if report.get("mlperf_valid") else "partial"
    power = report.get("power") or {}
    facts = [escape(str(report.get("scenario") or "?")), f"label {escape(str(report.get('label') or '—'))}",
             f"testing window {iso_time(power.get('window_begin'))} – {iso_time(power.get('window_end'))}",
             f"{number(power.get('duration_s'), 1, 's')}"]
    analyzer = report.get("analyzer") or {}
    if analyzer:
        facts.append(f"meter {escape(str(analyzer.get('name')))} ({escape(str(analyzer.get('model')))})")
    metric = headline(report)
    what = "energy per query" if metric.unit == "mJ/query" else "average power"
    return (
        f"<h1>{escape(str(report.get('session', 'session')))}</h1>"
        f'<div id="verdict" class="verdict {style}">{escape(verdict(report))}</div>'
        f'<div id="headline" class="headline">{headline_text(report)}'
        f' <span class="muted">{what}, MLPerf method</span></div>'
        f'<div class="muted">{" · ".join(facts)}</div>'
    )


def failures(report: dict[str, Any]) -> str:
    problems = "".join(f"<li>{escape(str(p))}</li>" for p in report.get("problems", []))
    warnings = "".join(f"<li>{escape(str(w))}</li>" for w in report.get("warnings", []))
    parts = []
    if problems:
        parts.append(f'<h2>Failed checks</h2><ul id="failures" class="problems">{problems}</ul>')
    if warnings:
        parts.append(f'<h2>Warnings</h2><ul class="warnings">{warnings}</ul>')
    return "".join(parts)


def checks_table(report: dict[str, Any]) -> str:
    checks = sorted(report.get("checks", []), key=lambda c: STATUS_ORDER.get(str(c.get("status")), 3))
    rows = []
    for check in checks:
        name = str(check.get("name", "?"))
        phase, label = check_label(name)
        rows.append([_badge(str(check.get("status", "?"))), escape(phase),
                     f'{escape(label)} <code class="muted">{escape(name)}</code>',
                     escape(str(check.get("reason", "")))])
    return table(["result", "phase", "check", "why"], rows, "checks")


def methods_table(report: dict[str, Any]) -> str:
    """Each phase by MLPerf's method and the time-weighted one, with units."""
    rows: list[list[str]] = []
    labels = [("Duration", "duration_s", 3, "s"), ("Samples in window", "samples_in_window", 0, ""),
              ("Average power, MLPerf", "avg_watts", 2, "W"), ("Energy, MLPerf", "energy_j", 2, "J"),
              ("Energy per query, MLPerf", "energy_per_query_mj", 3, "mJ"), ("Queries", "queries", 0, "")]
    for label, key, digits, unit in labels:
        rows.append([label, *(number(_phase_power(report, p).get(key), digits, unit) for p in PHASES)])
    weighted = [("Average power, time-weighted", "avg_watts", 2, "W"),
                ("Energy, time-weighted", "energy_j", 2, "J"),
                ("Time without a valid sample", "gap_s", 3, "s")]
    for label, key, digits, unit in weighted:
        rows.append([label, *(number((_phase_power(report, p).get("time_weighted") or {}).get(key), digits,
                                     unit) for p in PHASES)])
    rows.append(["Difference between the methods",
                 *(number(_phase_power(report, p).get("method_difference_pct"), 3, "%") for p in PHASES)])
    coverage = [(_phase_power(report, p).get("coverage") or {}).get("fraction") for p in PHASES]
    rows.append(["Sample coverage", *(percent(fraction, 1) for fraction in coverage)])
    return table(["", "testing (run 1)", "ranging"], rows, "figures")


def _phase_power(report: dict[str, Any], phase: str) -> dict[str, Any]:
    power = (report.get(phase) or {}).get("power")
    return power if isinstance(power, dict) else {}


def budget_section(budget: Any) -> str:
    """The error budget with labels; keys this page does not know are shown as they are."""
    if not isinstance(budget, dict):
        return f"<p>{escape(str(budget))}</p>"
    rows = []
    known = {"watts", "relative", "terms_watts", "analyzer_source", "energy_per_query_mj"}
    if "watts" in budget:
        rows.append(("Total (root-sum-square)", f"± {number(budget['watts'], 3, 'W')}"))
    if "relative" in budget:
        rows.append(("Relative to the result", f"± {percent(budget['relative'], 3)}"))
    if "energy_per_query_mj" in budget:
        rows.append(("Per query", f"± {number(budget['energy_per_query_mj'], 3, 'mJ')}"))
    for key, value in (budget.get("terms_watts") or {}).items():
        rows.append((f"term: {escape(BUDGET_LABELS.get(key, key))}",
                     "unknown" if value is None else f"± {number(value, 3, 'W')}"))
    if "analyzer_source" in budget:
        rows.append(("Analyzer accuracy from", escape(str(budget["analyzer_source"]))))
    rows += [(escape(str(k)), any_value(v)) for k, v in budget.items() if k not in known]
    return _pairs(rows)


def any_value(value: Any) -> str:
    if isinstance(value, dict):
        return _pairs([(escape(str(k)), any_value(v)) for k, v in value.items()])
    if isinstance(value, float):
        return escape(f"{value:.6g}")
    return escape(str(value)) if value is not None else "—"


def efficiency_section(report: dict[str, Any]) -> str:
    efficiency = report.get("efficiency") or {}
    rows = [(escape(EFFICIENCY_UNITS.get(k, k)), number(v, 4)) for k, v in efficiency.items()]
    return _pairs(rows) if rows else '<p class="muted">no efficiency: LoadGen gave no result to divide</p>'


def repeat_section(repeat: dict[str, Any]) -> str:
    unit = str(repeat.get("unit", ""))
    digits = 3 if unit == "mJ/query" else 2
    runs = [[f"run {r.get('run')}", escape(str(r.get("dir"))), number(r.get("value"), digits, unit),
             number(r.get("avg_watts"), 2, "W"), number(r.get("samples_in_window"), 0),
             number(r.get("duration_s"), 3, "s"), escape(str(r.get("loadgen_validity")))]
            for r in repeat.get("runs", [])]
    note = ("The headline is run 1, the run MLPerf counts; the mean below is over every run, "
            f"with its {CONFIDENCE:.0%} Student-t interval.")
    return (f'<div id="repeat"><p class="muted">{note}</p>'
            f"<p><b>{escape(repeat_text(repeat))}</b></p>"
            + table(["run", "directory", "result", "average power", "samples", "duration", "LoadGen"], runs)
            + "</div>")


def meters_section(report: dict[str, Any]) -> str:
    analyzer = report.get("analyzer") or {}
    rows = [[escape(str(analyzer.get(k, "—"))) for k in ("role", "name", "model", "driver", "version")]]
    rows[0][0] = escape(str(analyzer.get("role", "primary")))
    parts = [table(["role", "name", "model", "driver", "version"], rows)]
    beside = report.get("beside") or {}
    if beside:
        parts.append(table(
            ["measured beside the wall meter", "average power", "energy", "share of wall power", "gap"],
            [[escape(f"{b.get('name')} ({driver})"), number(b.get("avg_watts"), 2, "W"),
              number(b.get("energy_j"), 2, "J"), percent(b.get("share_of_wall"), 1),
              number(b.get("gap_s"), 3, "s")]
             for driver, b in beside.items()]))
    ranges = report.get("ranges") or {}
    parts.append(table(["ranges", "voltage", "current"], [
        [escape(phase), "auto" if not r or r.get("volts") is None else number(r["volts"], 1, "V"),
         "auto" if not r or r.get("amps") is None else number(r["amps"], 3, "A")]
        for phase, r in ranges.items() if r is None or isinstance(r, dict)]))
    return "".join(parts)


def clock_section(clock: dict[str, Any] | None) -> str:
    if not clock:
        return '<p class="muted">director and SUT share one clock (the workload ran here)</p>'
    rows = [("Offset (SUT − director)", number(clock.get("offset_ms"), 3, "ms")),
            ("Drift", number(clock.get("drift_ppm"), 2, "ppm")),
            ("Error bound", f"± {number(clock.get('bound_ms'), 3, 'ms')}"),
            ("Method", escape(str(clock.get("method"))))]
    return _pairs(rows)


def loadgen_section(report: dict[str, Any]) -> str:
    rows = []
    for phase in PHASES:
        loadgen = (report.get(phase) or {}).get("loadgen") or {}
        rows.append([escape(phase), escape(str(loadgen.get("validity", "—"))),
                     escape(str(loadgen.get("result_name", "—"))), _loadgen_result(loadgen),
                     number(loadgen.get("query_count"), 0), number(loadgen.get("min_duration_ms"), 0, "ms")])
    return table(["phase", "validity", "result", "value", "queries", "minimum duration"], rows)


def _loadgen_result(loadgen: dict[str, Any]) -> str:
    """A latency (``…_ns``) in ms, a throughput in samples/s."""
    value = loadgen.get("result")
    if not isinstance(value, (int, float)):
        return "—"
    if str(loadgen.get("result_name", "")).endswith("_ns"):
        return number(value / 1e6, 3, "ms")
    return number(value, 2, "samples/s")


def provenance_section(report: dict[str, Any]) -> str:
    provenance = report.get("provenance") or {}
    rows = [("power-director version", escape(str(report.get("tool_version") or "—"))),
            ("System under test", escape(str(provenance.get("system_name") or "—"))
             + (f" ({escape(str(provenance['system_from']))})" if provenance.get("system_from") else "")),
            ("Host", escape(str(provenance.get("host") or "—"))),
            ("Command", f"<code>{escape(str(provenance.get('command') or '—'))}</code>"),
            ("Workload", escape(str(provenance.get("workload") or "—"))),
            ("Config hash (sha256, first 16)",
             f"<code>{escape(str(provenance.get('config_hash') or '—'))}</code>")]
    return f'<div id="provenance">{_pairs(rows)}</div>'
