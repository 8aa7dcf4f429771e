"""``power.png``: the power trace of ranging and testing, LoadGen windows shaded, gaps in red."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from reports.model.headline import headline, iso_time, verdict
from reports.model.report import SessionReport
from reports.phase_report import PhaseReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

POWER_PNG = "power.png"
FIGURE_SIZE_IN = (11.0, 7.0)
DPI = 100
PNG_SIZE_PX = (int(FIGURE_SIZE_IN[0] * DPI), int(FIGURE_SIZE_IN[1] * DPI))  # width, height
GAP_FACTOR = 2.0  # samples further apart than this many intervals leave a gap
NS_PER_S = 1e9
MIN_SPAN_FRACTION = 0.2  # the y-axis spans at least 20 % of the highest power shown ...
MIN_SPAN_W = 1.0  # ... and at least 1 W

IN_WINDOW_COLOUR = "tab:blue"
OUTSIDE_COLOUR = "0.6"
WINDOW_COLOUR = "tab:green"
GAP_COLOUR = "tab:red"


@dataclass(frozen=True)
class Gaps:
    """Where a trace has no usable power: time gaps and sentinel (≤ 0 or NaN) samples."""

    begin_ns: npt.NDArray[np.int64]  # time gaps: the sample before ...
    end_ns: npt.NDArray[np.int64]  # ... and the sample after
    invalid_ns: npt.NDArray[np.int64]  # stamps of samples whose watts are ≤ 0 or NaN


def find_gaps(t_ns: npt.NDArray[np.int64], watts: npt.NDArray[np.float64], interval_ns: int) -> Gaps:
    order = np.argsort(t_ns, kind="stable")
    stamps, values = t_ns[order], watts[order]
    wide = np.flatnonzero(np.diff(stamps) > GAP_FACTOR * interval_ns)
    invalid = ~(np.isfinite(values) & (values > 0))
    return Gaps(stamps[wide], stamps[wide + 1], stamps[invalid])


def _seconds_from(t_ns: npt.NDArray[np.int64], origin_ns: int) -> npt.NDArray[np.float64]:
    return np.asarray((t_ns - origin_ns) / NS_PER_S, dtype=np.float64)


def _steps(
    t_s: npt.NDArray[np.float64], watts: npt.NDArray[np.float64], interval_s: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each sample as the meter's average over the time before its stamp: a flat segment from
    the previous stamp, or from one interval back after a gap, so no step spans a gap."""
    previous = np.concatenate(([t_s[0] - interval_s], t_s[:-1])) if len(t_s) else t_s
    starts = np.where(t_s - previous <= GAP_FACTOR * interval_s, previous, t_s - interval_s)
    next_is_gap = np.concatenate((starts[1:] != t_s[:-1], [True]))
    # Per sample: its segment's two ends, then a NaN (a break) where the next one does not join.
    x = np.column_stack((starts, t_s, np.where(next_is_gap, np.nan, t_s))).ravel()
    y = np.column_stack((watts, watts, np.where(next_is_gap, np.nan, watts))).ravel()
    return x, y


def _draw_phase(ax: Axes, phase: PhaseReport) -> None:
    series = phase.series.sorted_by_time()
    origin_ns = phase.window.begin_ns
    t_s = _seconds_from(series.t_ns, origin_ns)
    valid = np.isfinite(series.watts) & (series.watts > 0)
    in_window = (series.t_ns > phase.window.begin_ns) & (series.t_ns < phase.window.end_ns)
    watts = np.where(valid, series.watts, np.nan)
    interval_s = phase.interval_ns / NS_PER_S
    ax.axvspan(0.0, phase.window.duration_s, color=WINDOW_COLOUR, alpha=0.12, lw=0)
    ax.plot(*_steps(t_s, watts, interval_s), color=OUTSIDE_COLOUR, lw=1.2)
    ax.plot(t_s, watts, ".", color=OUTSIDE_COLOUR, ms=4)
    window_watts = np.where(in_window, watts, np.nan)
    ax.plot(*_steps(t_s, window_watts, interval_s), color=IN_WINDOW_COLOUR, lw=1.6)
    ax.plot(t_s, window_watts, ".", color=IN_WINDOW_COLOUR, ms=5)
    avg_watts = phase.power.avg_watts
    if avg_watts is not None:
        ax.hlines(avg_watts, 0.0, phase.window.duration_s, colors=IN_WINDOW_COLOUR, linestyles="--",
                  lw=1)
    gaps = find_gaps(series.t_ns, series.watts, phase.interval_ns)
    _draw_gaps(ax, gaps, origin_ns, phase.interval_ns)
    samples = int(valid.sum())
    average = f"{avg_watts:.2f} W MLPerf average" if avg_watts is not None else "no samples in window"
    begin, end = _iso(phase.window.power_begin), _iso(phase.window.power_end)
    if begin.endswith(" UTC") and end.endswith(" UTC") and begin[:10] == end[:10]:
        begin, end = begin.removesuffix(" UTC"), end[11:]  # one date, written once
    window = f"{begin} – {end}"
    ax.set_title(f"{phase.phase}: {samples} valid samples ({phase.power.samples_in_window} in window), "
                 f"LoadGen window {window}, {average}",
                 fontsize=10, loc="left")
    ax.set_xlabel(f"time since {phase.phase} power_begin (s)")
    ax.set_ylabel("power (W)")
    ax.grid(alpha=0.3)
    if not samples:
        ax.text(0.5, 0.5, "no valid samples", transform=ax.transAxes, ha="center", color=GAP_COLOUR)


def _iso(loadgen_time: str) -> str:
    return iso_time(loadgen_time)  # one date format for the page and its plot


def _draw_gaps(ax: Axes, gaps: Gaps, origin_ns: int, interval_ns: int) -> None:
    # Shade only the uncovered time: the sample after a gap still covers its own interval.
    for begin_s, end_s in zip(_seconds_from(gaps.begin_ns, origin_ns),
                              _seconds_from(gaps.end_ns - interval_ns, origin_ns), strict=True):
        ax.axvspan(begin_s, end_s, color=GAP_COLOUR, alpha=0.2, lw=0)
    if len(gaps.invalid_ns):
        # x in data, y in axes fraction: ticks along the bottom edge whatever the power scale.
        ax.vlines(_seconds_from(gaps.invalid_ns, origin_ns), 0.0, 0.08, colors=GAP_COLOUR, lw=2,
                  transform=ax.get_xaxis_transform())


def _legend_handles() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(color=WINDOW_COLOUR, alpha=0.12, label="LoadGen window (power_begin..power_end)"),
        Line2D([], [], color=IN_WINDOW_COLOUR, marker=".", label="samples in window"),
        Line2D([], [], color=OUTSIDE_COLOUR, marker=".", label="samples outside window"),
        Line2D([], [], color=IN_WINDOW_COLOUR, ls="--", label="MLPerf average"),
        Patch(color=GAP_COLOUR, alpha=0.2, label="gap > 2 intervals / invalid sample (tick)"),
    ]


def power_limits(watts: Sequence[npt.NDArray[np.float64]]) -> tuple[float, float] | None:
    """y-limits spanning every valid sample, at least ``MIN_SPAN_FRACTION`` of the level wide:
    a plug's ±1 % noise should look like noise, not cliffs."""
    valid = [w[np.isfinite(w) & (w > 0)] for w in watts]
    values = np.concatenate(valid) if valid else np.empty(0)
    if len(values) == 0:
        return None
    low, high = float(values.min()), float(values.max())
    span = max(high - low, MIN_SPAN_FRACTION * high, MIN_SPAN_W)
    middle = (low + high) / 2
    pad = 0.08 * span
    return max(0.0, middle - span / 2 - pad), middle + span / 2 + pad


def render_power_png(phases: Sequence[PhaseReport], title: str) -> bytes:
    """One panel per phase, top to bottom, as PNG bytes of ``PNG_SIZE_PX``."""
    # matplotlib is imported here, not at the top: commands that draw nothing (the SUT agent)
    # should not pay for it. A bare Figure on an Agg canvas: no pyplot, no global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    # One y-scale for every phase: a check compares their power, so the eye should too.
    axes = fig.subplots(len(phases), 1, squeeze=False, sharey=True)
    for ax, phase in zip(axes[:, 0], phases, strict=True):
        _draw_phase(ax, phase)
    limits = power_limits([p.series.watts for p in phases])
    if limits is not None:
        axes[0, 0].set_ylim(*limits)
    fig.suptitle(title, fontsize=12)
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def plot_title(report: SessionReport) -> str:
    return (f"{report.session} — {report.scenario or '?'}: "
            f"{headline(report).text()} [{verdict(report)}]")
