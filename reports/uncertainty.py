"""The error budget of the headline number: analyzer accuracy, window edges, clock alignment.

Terms are in watts of the window's average power and combined as a root sum of squares.
The analyzer term treats every sample's error as fully correlated (a meter's gain error
does not average out), which is the conservative choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reports.report_parts import BudgetTerms, Uncertainty

#: Stamps in spl.txt and LoadGen's markers have millisecond resolution.
STAMP_RESOLUTION_S = 0.001


@dataclass(frozen=True, slots=True)
class SampleUncertainty:
    """Per-sample relative uncertainty of the samples inside a window."""

    relative: npt.NDArray[np.float64]
    source: str

    @property
    def above_one_percent(self) -> int:
        return int(np.count_nonzero(self.relative > 0.01))


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    analyzer_w: float | None
    edge_w: float
    clock_w: float
    total_w: float
    relative: float
    analyzer_source: str

    def part(self, energy_per_query_mj: float | None) -> Uncertainty:
        """``report.json``'s ``uncertainty`` (a phase's power's too)."""
        return Uncertainty(
            self.total_w, self.relative, BudgetTerms(self.analyzer_w, self.edge_w, self.clock_w),
            self.analyzer_source,
            self.relative * energy_per_query_mj if energy_per_query_mj is not None else None,
        )


def edge_error_w(
    t_ns: npt.NDArray[np.int64], watts: npt.NDArray[np.float64], begin_ns: int, end_ns: int,
    interval_ns: int,
) -> float:
    """Bound on what the window edges misattribute: at each edge, up to one interval of the
    power change between the first (last) sample inside and its neighbour outside."""
    order = np.argsort(t_ns, kind="stable")
    t_sorted, w_sorted = t_ns[order], watts[order]
    valid = np.isfinite(w_sorted) & (w_sorted > 0)
    t_sorted, w_sorted = t_sorted[valid], w_sorted[valid]
    inside = np.flatnonzero((t_sorted > begin_ns) & (t_sorted < end_ns))
    if len(inside) == 0:
        return 0.0
    first, last = inside[0], inside[-1]
    jumps = []
    if first > 0:
        jumps.append(abs(w_sorted[first] - w_sorted[first - 1]))
    if last + 1 < len(w_sorted):
        jumps.append(abs(w_sorted[last + 1] - w_sorted[last]))
    duration_s = (end_ns - begin_ns) / 1e9
    return float(sum(jumps)) * (interval_ns / 1e9) / 2 / duration_s


def clock_error_w(watts: npt.NDArray[np.float64], duration_s: float, clock_bound_s: float) -> float:
    """Bound on shifting both window edges by the clock bound: the power swing over that time."""
    valid = watts[np.isfinite(watts) & (watts > 0)]
    if len(valid) == 0 or duration_s <= 0:
        return 0.0
    return 2 * clock_bound_s * float(valid.max() - valid.min()) / duration_s


def error_budget(
    avg_watts: float,
    watts_in_window: npt.NDArray[np.float64],
    samples: SampleUncertainty | None,
    edge_w: float,
    clock_w: float,
) -> ErrorBudget:
    analyzer_w = None
    if samples is not None and len(samples.relative):
        analyzer_w = float(np.mean(samples.relative * watts_in_window))
    total_w = math.sqrt((analyzer_w or 0.0) ** 2 + edge_w**2 + clock_w**2)
    source = samples.source if samples is not None else "unknown: no accuracy spec or PTDaemon figure"
    return ErrorBudget(analyzer_w, edge_w, clock_w, total_w, total_w / avg_watts, source)
