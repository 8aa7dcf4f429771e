"""``report.html``: one self-contained page (inline CSS, the plot as a data URI) per session."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from reports.mlperf.checker_column import CHECKER_KEY
from reports.model.measure import MeasureRun
from reports.model.report import SessionReport
from reports.phase_report import PhaseReport
from reports.render import html_page as page
from reports.render.plot import POWER_PNG, plot_title, render_power_png
from reports.report_json import ReportRecord

REPORT_HTML = "report.html"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1150px; padding: 0 1rem; color: #1d2329; background: #fff; }
h1 { font-size: 1.3rem; margin-bottom: .2rem; word-break: break-all; }
h2 { font-size: 1.05rem; margin-top: 1.8rem; border-bottom: 1px solid #d8dee4; padding-bottom: .2rem; }
.headline { font-size: 2.4rem; font-weight: 600; margin: .3rem 0 .4rem; }
.headline .muted { font-size: .95rem; font-weight: 400; }
.verdict { display: inline-block; font-size: 1.25rem; font-weight: 700; padding: .3rem .9rem;
           border-radius: .4rem; margin-top: .4rem; }
code { font-size: .8rem; }
table.checks td:nth-child(4) { max-width: 38rem; }
table.figures td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
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


def _imported(report: SessionReport) -> str:
    """A run we did not record: its rule set, the checker's number under it and today's, notes
    (the keys ``reports.build.mlperf_import`` adds, kept as JSON)."""
    extra = report.extra
    checker = extra.get("checker", {})
    rules_name = str(extra.get("rules", {}).get("name"))
    rows = [[escape(label), page.number(entry.get("value"), 6), escape(str(entry.get("unit") or "—")),
             escape(str(entry.get("note") or "—"))]
            for label, entry in ((f"checker, {rules_name} rules", checker.get("rules", {})),
                                 ("checker, today's rules", checker.get("current", {})))]
    notes = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
    return (page.table(["", "value", "unit", "note"], rows) + f"<ul>{notes}</ul>"
            + _checker_column(extra.get(CHECKER_KEY)) + page.any_value(extra.get("imported", {})))


def _checker_column(section: Any) -> str:
    """Each rule of MLCommons' checker beside our checks judging the same thing."""
    if not isinstance(section, dict):
        return ""
    rows = [[escape(str(row["rule"])), escape(str(row["checker"])), escape(str(row["ours"])),
             escape(", ".join(row["our_checks"]) or "—"), escape(str(row["why"] or "—"))]
            for row in section.get("rules", [])]
    return (f"<h3>{escape(str(section['title']))}: {escape(str(section['verdict']))}</h3>"
            + page.table(["rule", "MLCommons checker (current)", "ours", "our checks", "why they differ"],
                         rows))


def _cells(figures: ReportRecord, columns: list[tuple[str, int, str]]) -> list[str]:
    """Each column's figure (a field of ``figures``): a number with its digits and unit, or
    (digits -1) text."""
    return [page.number(getattr(figures, key), digits, unit) if digits >= 0
            else escape(str(getattr(figures, key) or "")) for key, digits, unit in columns]


def _measured(runs: Sequence[MeasureRun]) -> str:
    """``measure``: each run's figures, then its phases and software estimates."""
    columns = [("run", -1, ""), ("exit_code", -1, ""), ("duration_s", 3, "s"), ("energy_j", 1, "J"),
               ("avg_watts", 2, "W"), ("uncertainty_watts", 2, "W"), ("idle_watts", 2, "W"),
               ("energy_above_idle_j", 1, "J"), ("energy_per_unit_j", 4, "J/unit")]
    head = ["run", "exit", "duration", "energy", "average", "±", "idle", "above idle", "per unit"]
    parts = [page.table(head, [_cells(r, columns) for r in runs], "figures")]
    phase_columns = [("name", -1, ""), ("duration_s", 3, "s"), ("energy_j", 1, "J"), ("avg_watts", 2, "W")]
    phases = [[escape(str(r.run)), *_cells(p, phase_columns)] for r in runs for p in r.phases]
    if phases:
        parts.append(page.table(["run", "phase", "duration", "energy", "average"], phases, "figures"))
    estimate_columns = [("source", -1, ""), ("energy_j", 1, "J"), ("error_vs_wall_pct", 1, "%"),
                        ("error", -1, "")]
    estimates = [[escape(str(r.run)), *_cells(e, estimate_columns)] for r in runs for e in r.estimates]
    if estimates:
        parts.append(page.table(["run", "software estimate (informative)", "energy", "vs the wall meter", ""],
                                estimates, "figures"))
    return "".join(parts)


def _plot(png_bytes: bytes | None) -> str:
    if not png_bytes:
        return '<p class="muted">no power plot</p>'
    data = base64.b64encode(png_bytes).decode("ascii")
    return (f'<img id="trace" alt="power trace of ranging and testing, one power scale" '
            f'src="data:image/png;base64,{data}">')


def _section(title: str, body: str) -> str:
    return f"<h2>{escape(title)}</h2>{body}"


def render_html(report: SessionReport, png_bytes: bytes | None) -> str:
    """The page for one report; every string from it is escaped. Verdict and
    headline first, then what failed, then the evidence and the detail."""
    sections = [page.header(report), page.failures(report),
                _section("Checks (failures first)", page.checks_table(report)),
                _section("Power trace", _plot(png_bytes)),
                _section("Power by both methods", page.methods_table(report))]
    if report.uncertainty is not None:
        sections.append(_section("Error budget", page.budget_section(report.uncertainty.to_json())))
    sections.append(_section("Efficiency", page.efficiency_section(report)))
    if report.repeat is not None:
        sections.append(_section("Repeated testing runs", page.repeat_section(report.repeat)))
    if report.measure is not None:
        sections.append(_section("Measured command", _measured(report.measure.runs)))
    if report.eehpc is not None:
        sections.append(_section("EEHPC / Green500 level", page.eehpc_section(report.eehpc)))
    sections += [
        _section("LoadGen results", page.loadgen_section(report)),
        _section("Meters and ranges", page.meters_section(report)),
        _section("Clocks", page.clock_section(report.clock)),
        _section("Version, host, command, config", page.provenance_section(report)),
    ]
    if "imported" in report.extra:
        sections.append(_section("Imported run", _imported(report)))
    title = escape(f"{report.session}: power report")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(sections)}"
            '<p class="muted">power-director report</p></body></html>\n')


def write_html_report(target: Path, report: SessionReport, phases: Sequence[PhaseReport]) -> None:
    """Write ``power.png`` and ``report.html`` (with the plot inside) into ``target``, from the
    report and the phases it was built from: nothing is read again."""
    png_bytes = render_power_png(phases, plot_title(report))
    (target / POWER_PNG).write_bytes(png_bytes)
    (target / REPORT_HTML).write_text(render_html(report, png_bytes), encoding="utf-8")
