"""``report.html``: one self-contained page (inline CSS, the plot as a data URI) per session."""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from typing import Any

from reports.headline import headline, verdict
from reports.plot import POWER_PNG, plot_title, render_power_png, session_power_png
from reports.session_report import PhaseReport

REPORT_HTML = "report.html"
PHASES = ("testing", "ranging")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1150px; padding: 0 1rem; color: #1d2329; background: #fff; }
h1 { font-size: 1.3rem; margin-bottom: .2rem; word-break: break-all; }
h2 { font-size: 1.05rem; margin-top: 1.8rem; border-bottom: 1px solid #d8dee4; padding-bottom: .2rem; }
.headline { font-size: 2.4rem; font-weight: 600; margin: .6rem 0; }
.badge { display: inline-block; padding: .15rem .6rem; border-radius: .8rem; font-weight: 600;
         font-size: .9rem; vertical-align: middle; }
.pass, .valid { background: #dcf5e3; color: #116329; }
.warning, .partial { background: #fff1c2; color: #7a4e00; }
.unknown { background: #e8ecf0; color: #424a53; }
.fail, .invalid { background: #ffdcd7; color: #a40e26; }
table { border-collapse: collapse; margin: .4rem 0; font-size: .92rem; }
th, td { border: 1px solid #d8dee4; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.problems li { color: #a40e26; }
ul.warnings li { color: #7a4e00; }
img { max-width: 100%; border: 1px solid #d8dee4; }
.muted { color: #6a737d; font-size: .85rem; }
.grid { display: flex; flex-wrap: wrap; gap: 1.5rem; }
"""


def _text(value: Any) -> str:
    """A value from report.json as escaped cell text: numbers to 6 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return escape(str(value))
        # Whole numbers (latency ns, counts) in full; the rest to 6 significant digits.
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value) or "—"
    return escape(str(value))


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return f"<td>{_dict_table(value)}</td>"
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{_text(value)}</td>' if numeric else f"<td>{_text(value)}</td>"


def _dict_table(data: dict[str, Any]) -> str:
    """Any (nested) dict as a key/value table; keys carry their units (``energy_j``)."""
    if not data:
        return '<span class="muted">none</span>'
    rows = "".join(f"<tr><th>{escape(str(key))}</th>{_cell(value)}</tr>" for key, value in data.items())
    return f"<table>{rows}</table>"


def _verdict_badge(report: dict[str, Any]) -> str:
    text = verdict(report)
    style = "invalid" if not report.get("valid") else "valid" if report.get("mlperf_valid") else "partial"
    return f'<span class="badge {style}">{escape(text)}</span>'


def _header(report: dict[str, Any]) -> str:
    problems = "".join(f"<li>{escape(str(p))}</li>" for p in report.get("problems", []))
    warnings = "".join(f"<li>{escape(str(w))}</li>" for w in report.get("warnings", []))
    return (
        f"<h1>{_text(report.get('session'))}</h1>"
        f'<div class="muted">scenario {_text(report.get("scenario"))} · '
        f"label {_text(report.get('label'))}</div>"
        f'<div class="headline">{escape(headline(report).text())} {_verdict_badge(report)}</div>'
        + (f'<ul class="problems">{problems}</ul>' if problems else "")
        + (f'<ul class="warnings">{warnings}</ul>' if warnings else "")
    )


def _methods_table(report: dict[str, Any]) -> str:
    """The metric by MLPerf's method and by the time-weighted one, per phase."""
    head = ("<tr><th>phase</th><th>duration (s)</th><th>samples in window</th>"
            "<th>MLPerf avg (W)</th><th>time-weighted avg (W)</th><th>MLPerf energy (J)</th>"
            "<th>time-weighted energy (J)</th><th>difference (%)</th><th>MLPerf energy/query (mJ)</th>"
            "<th>gap (s)</th><th>longest gap (s)</th></tr>")
    rows = []
    for phase in PHASES:
        power = report.get(phase, {}).get("power", {})
        weighted = power.get("time_weighted", {})
        cells = [power.get("duration_s"), power.get("samples_in_window"), power.get("avg_watts"),
                 weighted.get("avg_watts"), power.get("energy_j"), weighted.get("energy_j"),
                 power.get("method_difference_pct"), power.get("energy_per_query_mj"),
                 weighted.get("gap_s"), weighted.get("longest_gap_s")]
        rows.append(f"<tr><th>{phase}</th>{''.join(_cell(c) for c in cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _checks_table(report: dict[str, Any]) -> str:
    rows = []
    for check in report.get("checks", []):
        status = str(check.get("status", "?"))
        style = status if status in ("pass", "warning", "fail", "unknown") else ""
        rows.append(f'<tr><td><span class="badge {style}">{escape(status)}</span></td>'
                    f"<td>{_text(check.get('name'))}</td><td>{_text(check.get('reason'))}</td></tr>")
    return f"<table><tr><th>status</th><th>check</th><th>reason</th></tr>{''.join(rows)}</table>"


def _imported(report: dict[str, Any]) -> str:
    """A run we did not record: its rule set, the checker's number under it and today's, notes."""
    checker = report.get("checker", {})
    rules_name = str(report.get("rules", {}).get("name"))
    rows = "".join(
        f"<tr><th>{escape(label)}</th>{_cell(entry.get('value'))}<td>{_text(entry.get('unit'))}</td>"
        f"<td>{_text(entry.get('note'))}</td></tr>"
        for label, entry in ((f"checker, {rules_name} rules", checker.get("rules", {})),
                             ("checker, today's rules", checker.get("current", {})))
    )
    notes = "".join(f"<li>{_text(note)}</li>" for note in report.get("notes", []))
    return (f"<table><tr><th></th><th>value</th><th>unit</th><th>note</th></tr>{rows}</table>"
            f"<ul>{notes}</ul>{_dict_table(report.get('imported', {}))}")


def _plot(png_bytes: bytes | None) -> str:
    if not png_bytes:
        return '<p class="muted">no power plot</p>'
    data = base64.b64encode(png_bytes).decode("ascii")
    return f'<img alt="power trace of ranging and testing" src="data:image/png;base64,{data}">'


def _section(title: str, body: str) -> str:
    return f"<h2>{escape(title)}</h2>{body}"


def render_html(report: dict[str, Any], png_bytes: bytes | None) -> str:
    """The page for one ``report.json``; every string from it is escaped."""
    loadgen = "".join(
        f"<div><h3>{phase}</h3>{_dict_table(report.get(phase, {}).get('loadgen', {}))}</div>"
        for phase in PHASES
    )
    sections = [
        _header(report),
        _section("Power by both methods", _methods_table(report)),
        _section("Efficiency", _dict_table(report.get("efficiency", {}))),
    ]
    if report.get("uncertainty") is not None:
        budget = report["uncertainty"]
        sections.append(_section("Error budget", _dict_table(budget) if isinstance(budget, dict)
                                 else f"<p>{_text(budget)}</p>"))
    sections += [
        _section("Checks", _checks_table(report)),
        _section("Power trace", _plot(png_bytes)),
        _section("LoadGen results", f'<div class="grid">{loadgen}</div>'),
        _section("Ranges", _dict_table(report.get("ranges", {}))),
        _section("Analyzer", _dict_table(report.get("analyzer", {}))),
    ]
    if "imported" in report:
        sections.append(_section("Imported run", _imported(report)))
    title = escape(f"{report.get('session', 'session')}: power report")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(sections)}"
            '<p class="muted">power-director report</p></body></html>\n')


def write_html_report(
    session_dir: Path, report: dict[str, Any], out_dir: Path | None = None,
    phases: list[PhaseReport] | None = None,
) -> None:
    """Write ``power.png`` and ``report.html`` (with the plot inside) into the session, or into
    ``out_dir`` (an imported run: ``phases`` as its report was built from)."""
    target = out_dir or session_dir
    png_bytes = (render_power_png(phases, plot_title(report)) if phases
                 else session_power_png(session_dir, report))
    (target / POWER_PNG).write_bytes(png_bytes)
    (target / REPORT_HTML).write_text(render_html(report, png_bytes), encoding="utf-8")
