"""The body of ``report.html``, written for a person: the verdict and headline with its ±
first, failures first, human labels and units, ISO dates, then the detail."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from reports.mlperf.eehpc import eehpc_line
from reports.model.eehpc_record import EehpcSection
from reports.model.headline import headline, iso_time, metric_uncertainty, verdict
from reports.model.report import RepeatSection, SessionReport
from reports.render.summary import repeat_text
from reports.repeat import CONFIDENCE
from reports.report_parts import EFFICIENCY_UNITS, ClockSection, PhaseSection

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


def headline_text(report: SessionReport) -> str:
    metric = headline(report)
    if metric.value is None:
        return "no result"
    digits = 3 if metric.unit == "mJ/query" else 2
    error = metric_uncertainty(report)
    plus_minus = f" ± {number(error, digits)}" if error is not None else ""
    return f"{number(metric.value, digits)}{plus_minus} {escape(metric.unit)}"


def header(report: SessionReport) -> str:
    style = "invalid" if not report.valid else "valid" if report.mlperf_valid else "partial"
    power = report.power
    facts = [escape(str(report.scenario or "?")), f"label {escape(str(report.label or '—'))}",
             f"testing window {iso_time(power and power.window_begin)} – "
             f"{iso_time(power and power.window_end)}",
             f"{number(power and power.duration_s, 1, 's')}"]
    analyzer = report.analyzer.to_json()
    if analyzer:
        facts.append(f"meter {escape(str(analyzer.get('name')))} ({escape(str(analyzer.get('model')))})")
    metric = headline(report)
    what = "energy per query" if metric.unit == "mJ/query" else "average power"
    return (
        f"<h1>{escape(report.session)}</h1>"
        f'<div id="verdict" class="verdict {style}">{escape(verdict(report))}</div>'
        f'<div id="headline" class="headline">{headline_text(report)}'
        f' <span class="muted">{what}, MLPerf method</span></div>'
        f'<div class="muted">{" · ".join(facts)}</div>'
    )


def failures(report: SessionReport) -> str:
    problems = "".join(f"<li>{escape(p)}</li>" for p in report.problems)
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
    parts = []
    if problems:
        parts.append(f'<h2>Failed checks</h2><ul id="failures" class="problems">{problems}</ul>')
    if warnings:
        parts.append(f'<h2>Warnings</h2><ul class="warnings">{warnings}</ul>')
    return "".join(parts)


def checks_table(report: SessionReport) -> str:
    checks = sorted(report.checks, key=lambda c: STATUS_ORDER.get(c.status, 3))
    rows = []
    for check in checks:
        phase, label = check_label(check.name)
        rows.append([_badge(check.status), escape(phase),
                     f'{escape(label)} <code class="muted">{escape(check.name)}</code>',
                     escape(check.reason)])
    return table(["result", "phase", "check", "why"], rows, "checks")


def methods_table(report: SessionReport) -> str:
    """Each phase by MLPerf's method and the time-weighted one, with units."""
    phases = [report.testing, report.ranging]
    powers = [p.power if p else None for p in phases]
    weighted = [p.time_weighted if p else None for p in powers]
    rows: list[list[str]] = []
    labels = [("Duration", "duration_s", 3, "s"), ("Samples in window", "samples_in_window", 0, ""),
              ("Average power, MLPerf", "avg_watts", 2, "W"), ("Energy, MLPerf", "energy_j", 2, "J"),
              ("Energy per query, MLPerf", "energy_per_query_mj", 3, "mJ"), ("Queries", "queries", 0, "")]
    for label, key, digits, unit in labels:
        rows.append([label, *(number(getattr(p, key, None), digits, unit) for p in powers)])
    weighted_labels = [("Average power, time-weighted", "avg_watts", 2, "W"),
                       ("Energy, time-weighted", "energy_j", 2, "J"),
                       ("Time without a valid sample", "gap_s", 3, "s")]
    for label, key, digits, unit in weighted_labels:
        rows.append([label, *(number(getattr(w, key, None), digits, unit) for w in weighted)])
    rows.append(["Difference between the methods",
                 *(number(p and p.method_difference_pct, 3, "%") for p in powers)])
    rows.append(["Sample coverage", *(percent(p and p.coverage.fraction, 1) for p in powers)])
    return table(["", "testing (run 1)", "ranging"], rows, "figures")


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


def efficiency_section(report: SessionReport) -> str:
    rows = [(escape(EFFICIENCY_UNITS.get(k, k)), number(v, 4)) for k, v in report.efficiency.items()]
    return _pairs(rows) if rows else '<p class="muted">no efficiency: LoadGen gave no result to divide</p>'


def eehpc_section(eehpc: EehpcSection) -> str:
    """The level met, each level not met with why, and the facts graded (as report.json has them)."""
    rows = [[escape(f"level {k}"), escape("; ".join(v))] for k, v in eehpc.not_met.items()]
    pairs = [(escape(k), escape(any_value(v))) for k, v in eehpc.facts.to_json().items()]
    return (f'<div id="eehpc"><p><b>{escape(eehpc_line(eehpc))}</b></p>'
            f'<p class="muted">{escape(eehpc.methodology)}; the testing window is the core '
            "phase.</p>" + (table(["not met", "why"], rows) if rows else "") + _pairs(pairs) + "</div>")


def repeat_section(repeat: RepeatSection) -> str:
    unit = repeat.unit
    digits = 3 if unit == "mJ/query" else 2
    runs = [[f"run {r.run}", escape(r.dir), number(r.value, digits, unit),
             number(r.avg_watts, 2, "W"), number(r.samples_in_window, 0),
             number(r.duration_s, 3, "s"), escape(str(r.loadgen_validity))]
            for r in repeat.runs]
    note = ("The headline is run 1, the run MLPerf counts; the mean below is over every run, "
            f"with its {CONFIDENCE:.0%} Student-t interval.")
    return (f'<div id="repeat"><p class="muted">{note}</p>'
            f"<p><b>{escape(repeat_text(repeat))}</b></p>"
            + table(["run", "directory", "result", "average power", "samples", "duration", "LoadGen"], runs)
            + "</div>")


def meters_section(report: SessionReport) -> str:
    analyzer = report.analyzer.to_json()
    rows = [[escape(str(analyzer.get(k, "—"))) for k in ("role", "name", "model", "driver", "version")]]
    rows[0][0] = escape(str(analyzer.get("role", "primary")))
    parts = [table(["role", "name", "model", "driver", "version"], rows)]
    if report.sum:
        parts.append(table(
            ["supplies summed into the wall power", "role", "interval", "average power", "energy", "gap"],
            [[escape(f"{m.name} ({m.driver})"), escape(m.role), number(m.interval_ms, 0, "ms"),
              number(m.avg_watts, 2, "W"), number(m.energy_j, 2, "J"), number(m.gap_s, 3, "s")]
             for m in report.sum], "supplies"))
    if report.beside:
        parts.append(table(
            ["measured beside the wall meter", "average power", "energy", "share of wall power", "gap"],
            [[escape(f"{b.name} ({b.driver})"), number(b.avg_watts, 2, "W"),
              number(b.energy_j, 2, "J"), percent(b.share_of_wall, 1),
              number(b.gap_s, 3, "s")]
             for b in report.beside]))
    ranges = report.ranges
    parts.append(table(["ranges", "voltage", "current"], [
        [escape(phase), "auto" if not r or r.volts is None else number(r.volts, 1, "V"),
         "auto" if not r or r.amps is None else number(r.amps, 3, "A")]
        for phase, r in ranges.items()]))
    return "".join(parts)


def clock_section(clock: ClockSection | None) -> str:
    if not clock:
        return '<p class="muted">director and SUT share one clock (the workload ran here)</p>'
    rows = [("Offset (SUT − director)", number(clock.offset_ms, 3, "ms")),
            ("Drift", number(clock.drift_ppm, 2, "ppm")),
            ("Error bound", f"± {number(clock.bound_ms, 3, 'ms')}"),
            ("Method", escape(str(clock.method)))]
    return _pairs(rows)


def loadgen_section(report: SessionReport) -> str:
    rows = []
    for phase, section in zip(PHASES, (report.testing, report.ranging), strict=True):
        loadgen = section.loadgen if section else None
        rows.append([escape(phase), escape(str((loadgen and loadgen.validity) or "—")),
                     escape(str((loadgen and loadgen.result_name) or "—")), _loadgen_result(section),
                     number(loadgen and loadgen.query_count, 0),
                     number(loadgen and loadgen.min_duration_ms, 0, "ms")])
    return table(["phase", "validity", "result", "value", "queries", "minimum duration"], rows)


def _loadgen_result(section: PhaseSection | None) -> str:
    """A latency (``…_ns``) in ms, a throughput in samples/s."""
    value = section.loadgen.result if section else None
    if section is None or value is None:
        return "—"
    if str(section.loadgen.result_name or "").endswith("_ns"):
        return number(value / 1e6, 3, "ms")
    return number(value, 2, "samples/s")


def provenance_section(report: SessionReport) -> str:
    provenance = report.provenance
    rows = [("power-director version", escape(report.tool_version or "—")),
            ("System under test", escape(provenance.system_name or "—")
             + (f" ({escape(provenance.system_from)})" if provenance.system_from else "")),
            ("Host", escape(provenance.host or "—")),
            ("Command", f"<code>{escape(provenance.command or '—')}</code>"),
            ("Workload", escape(provenance.workload or "—")),
            ("Config hash (sha256, first 16)",
             f"<code>{escape(provenance.config_hash or '—')}</code>")]
    return f'<div id="provenance">{_pairs(rows)}</div>'
