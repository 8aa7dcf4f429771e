"""Several sessions side by side: a text table and a bar chart of their headline metrics."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import PHASE_DIRS, REPORT_JSON
from reports.build.session_report import build_report
from reports.model.headline import Headline, headline, metric_uncertainty, verdict
from reports.model.report import SessionReport
from reports.render.plot import DPI
from reports.render.summary import repeat_text
from reports.repeat import overlaps
from reports.report_parts import EFFICIENCY_UNITS

COLUMNS = ("session", "scenario", "metric", "efficiency", "uncertainty", "repeat (95 % CI)", "valid")


@dataclass(frozen=True)
class SessionSummary:
    session: str
    report: SessionReport

    @property
    def metric(self) -> Headline:
        return headline(self.report)

    @property
    def uncertainty(self) -> float | None:
        return metric_uncertainty(self.report)


def load_report(session_dir: Path) -> SessionReport:
    """A session's ``report.json``, or the report recomputed from its files when that is missing."""
    path = session_dir / REPORT_JSON
    if path.is_file():
        return SessionReport.read(path)
    if not any((session_dir / phase_dir).is_dir() for phase_dir in PHASE_DIRS.values()):
        raise ReportError(f"{session_dir} is not a session directory: no {REPORT_JSON}, "
                          f"no {' or '.join(d + '/' for d in PHASE_DIRS.values())}")
    return build_report(session_dir)


def load_sessions(session_dirs: Sequence[Path]) -> list[SessionSummary]:
    """Each directory's report, in order; the first directory that is not a session raises."""
    sessions = []
    for session_dir in session_dirs:
        report = load_report(session_dir)
        sessions.append(SessionSummary(report.session, report))
    return sessions


def _efficiency_text(report: SessionReport) -> str:
    parts = [f"{value:.4g} {EFFICIENCY_UNITS.get(key, key)}" for key, value in report.efficiency.items()]
    return ", ".join(parts) or "—"


def _uncertainty_text(summary: SessionSummary) -> str:
    uncertainty = summary.uncertainty
    if uncertainty is not None:
        return f"±{uncertainty:.3g} {summary.metric.unit}"
    budget = summary.report.uncertainty
    return "—" if budget is None else json.dumps(budget, separators=(",", ":"))


def table_rows(sessions: Sequence[SessionSummary]) -> list[tuple[str, ...]]:
    return [
        (s.session, str(s.report.scenario or "?"), s.metric.text(), _efficiency_text(s.report),
         _uncertainty_text(s), repeat_text(s.report.repeat) if s.report.repeat else "—",
         verdict(s.report))
        for s in sessions
    ]


def interval_verdicts(sessions: Sequence[SessionSummary]) -> list[str]:
    """For each pair of repeated sessions with the same metric: do their 95 % intervals overlap?"""
    shown = [(s, s.report.repeat, s.report.repeat.stats.ci95) for s in sessions
             if s.report.repeat and s.report.repeat.stats.ci95]
    lines = []
    for i, (a, a_repeat, a_ci95) in enumerate(shown):
        for b, b_repeat, b_ci95 in shown[i + 1:]:
            if a_repeat.unit != b_repeat.unit or a_ci95 is None or b_ci95 is None:
                continue
            if overlaps(a_ci95, b_ci95):
                lines.append(f"{a.session} vs {b.session}: 95 % intervals overlap, no clear difference")
            else:
                lines.append(f"{a.session} vs {b.session}: 95 % intervals do not overlap, they differ")
    return lines


def format_table(sessions: Sequence[SessionSummary]) -> str:
    rows = [COLUMNS, *table_rows(sessions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*lines, *interval_verdicts(sessions)])


@dataclass(frozen=True)
class Bar:
    """One session's bar: its efficiency (what comparisons are about) with its interval."""

    session: str
    value: float
    error: float  # NaN: unknown
    unit: str
    label: str
    valid: bool


def efficiency_bar(summary: SessionSummary) -> Bar | None:
    """The repeat mean and its 95 % half-width where the testing run was repeated; else run 1's
    efficiency with the measurement's ± (efficiency ∝ 1/power: the same relative error)."""
    first = summary.report.efficiency.first()
    if first is None:
        return None
    key, value = first
    unit = EFFICIENCY_UNITS.get(key, key)
    valid = summary.report.valid
    repeated = summary.report.repeat.efficiency if summary.report.repeat else None
    if repeated and repeated.key == key and repeated.stats.half_width is not None:
        mean, half = float(repeated.stats.mean or 0.0), float(repeated.stats.half_width)
        return Bar(summary.session, mean, half, unit,
                   f"{mean:.4g} ± {half:.2g} (95 % CI, n={repeated.stats.n})", valid)
    relative = summary.report.uncertainty.relative if summary.report.uncertainty else None
    error = value * float(relative) if isinstance(relative, (int, float)) else float("nan")
    return Bar(summary.session, value, error, unit, f"{value:.4g} (run 1)", valid)


def render_compare_png(sessions: Sequence[SessionSummary]) -> bytes:
    """One bar chart of efficiency per unit (samples/s/W and queries/J do not share an axis),
    error bars from the repeat interval where runs were repeated."""
    bars = [bar for bar in map(efficiency_bar, sessions) if bar is not None]
    units = sorted({bar.unit for bar in bars})
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only when drawing, as in plot
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.6 * len(sessions) + 2), 4.0 * max(len(units), 1)), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(units), 1), 1, squeeze=False)[:, 0]
    for ax, unit in zip(axes, units, strict=False):
        shown = [bar for bar in bars if bar.unit == unit]
        # NaN draws no error bar: unknown uncertainty is not zero uncertainty.
        drawn = ax.bar(range(len(shown)), [b.value for b in shown], yerr=[b.error for b in shown],
                       color=["tab:blue" if b.valid else "tab:red" for b in shown], capsize=6)
        ax.bar_label(drawn, labels=[b.label for b in shown], label_type="center", color="white", fontsize=8)
        ax.set_xticks(range(len(shown)), [b.session for b in shown], rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(f"{unit} (higher is better)")
        ax.grid(axis="y", alpha=0.3)
    if not units:
        axes[0].text(0.5, 0.5, "no session has an efficiency", transform=axes[0].transAxes, ha="center")
    fig.suptitle("power-director: efficiency compared (red: invalid)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
