"""Several sessions side by side: a text table and a bar chart of their headline metrics."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.headline import Headline, headline, metric_uncertainty, verdict
from reports.plot import DPI
from reports.repeat import overlaps
from reports.results import EFFICIENCY_UNITS
from reports.session_report import PHASE_DIRS, REPORT_JSON, ReportError, build_report, repeat_text

COLUMNS = ("session", "scenario", "metric", "efficiency", "uncertainty", "repeat (95 % CI)", "valid")


@dataclass(frozen=True)
class SessionSummary:
    session: str
    report: dict[str, Any]

    @property
    def metric(self) -> Headline:
        return headline(self.report)

    @property
    def uncertainty(self) -> float | None:
        return metric_uncertainty(self.report)


def load_report(session_dir: Path) -> dict[str, Any]:
    """A session's ``report.json``, or the report recomputed from its files when that is missing."""
    path = session_dir / REPORT_JSON
    if path.is_file():
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ReportError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(report, dict):
            raise ReportError(f"{path} does not hold a report object")
        return report
    if not any((session_dir / phase_dir).is_dir() for phase_dir in PHASE_DIRS.values()):
        raise ReportError(f"{session_dir} is not a session directory: no {REPORT_JSON}, "
                          f"no {' or '.join(d + '/' for d in PHASE_DIRS.values())}")
    return build_report(session_dir)


def load_sessions(session_dirs: Sequence[Path]) -> list[SessionSummary]:
    """Each directory's report, in order; the first directory that is not a session raises."""
    sessions = []
    for session_dir in session_dirs:
        report = load_report(session_dir)
        sessions.append(SessionSummary(str(report.get("session", session_dir.name)), report))
    return sessions


def _efficiency_text(report: dict[str, Any]) -> str:
    efficiency = report.get("efficiency") or {}
    parts = [
        f"{value:.4g} {EFFICIENCY_UNITS.get(key, key)}"
        for key, value in efficiency.items()
        if isinstance(value, (int, float))
    ]
    return ", ".join(parts) or "—"


def _uncertainty_text(summary: SessionSummary) -> str:
    uncertainty = summary.uncertainty
    if uncertainty is not None:
        return f"±{uncertainty:.3g} {summary.metric.unit}"
    budget = summary.report.get("uncertainty")
    return "—" if budget is None else json.dumps(budget, separators=(",", ":"))


def table_rows(sessions: Sequence[SessionSummary]) -> list[tuple[str, ...]]:
    return [
        (s.session, str(s.report.get("scenario", "?")), s.metric.text(), _efficiency_text(s.report),
         _uncertainty_text(s), repeat_text(s.report["repeat"]) if s.report.get("repeat") else "—",
         verdict(s.report))
        for s in sessions
    ]


def interval_verdicts(sessions: Sequence[SessionSummary]) -> list[str]:
    """For each pair of repeated sessions with the same metric: do their 95 % intervals overlap?"""
    shown = [s for s in sessions if (s.report.get("repeat") or {}).get("ci95")]
    lines = []
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            if a.report["repeat"]["unit"] != b.report["repeat"]["unit"]:
                continue
            if overlaps(a.report["repeat"]["ci95"], b.report["repeat"]["ci95"]):
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


def render_compare_png(sessions: Sequence[SessionSummary]) -> bytes:
    """One bar chart per unit (W and mJ/query do not share an axis), error bars where known."""
    units = sorted({s.metric.unit for s in sessions if s.metric.value is not None})
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # only when drawing, as in plot
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.6 * len(sessions) + 2), 4.0 * max(len(units), 1)), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(units), 1), 1, squeeze=False)[:, 0]
    for ax, unit in zip(axes, units, strict=False):
        shown = [s for s in sessions if s.metric.unit == unit and s.metric.value is not None]
        # NaN draws no error bar: unknown uncertainty is not zero uncertainty.
        errors = [s.uncertainty if s.uncertainty is not None else float("nan") for s in shown]
        colours = ["tab:blue" if s.report.get("valid") else "tab:red" for s in shown]
        bars = ax.bar(range(len(shown)), [s.metric.value or 0.0 for s in shown], color=colours,
                      yerr=errors, capsize=6)
        ax.bar_label(bars, labels=[s.metric.text() for s in shown], label_type="center", color="white")
        ax.set_xticks(range(len(shown)), [s.session for s in shown], rotation=15, ha="right",
                      fontsize=8)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    if not units:
        axes[0].text(0.5, 0.5, "no session has a result", transform=axes[0].transAxes, ha="center")
    fig.suptitle("power-director: sessions compared (red: invalid)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
