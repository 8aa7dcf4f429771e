"""Statistics over repeated testing runs: mean, standard deviation and a 95 % interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.formats.json_record import optional, pair
from reports.report_json import ReportRecord, count, key, maybe_real

# Two-sided 95 % Student t quantiles t(0.975, df) for df = 1..30; beyond that the normal's.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)
Z_975 = 1.960
CONFIDENCE = 0.95


def t_975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")
    return T_975[df - 1] if df <= len(T_975) else Z_975


@dataclass(frozen=True)
class IntervalStats(ReportRecord):
    """n, mean, sample stdev and the Student-t 95 % interval of the mean (none for n < 2)."""

    n: int = count()
    mean: float | None = maybe_real()
    stdev: float | None = maybe_real()
    ci95: tuple[float, float] | None = key(optional(pair))
    half_width: float | None = maybe_real()

    @property
    def stats(self) -> IntervalStats:
        """The interval alone (of a record that adds keys to it)."""
        return IntervalStats(self.n, self.mean, self.stdev, self.ci95, self.half_width)


def interval_stats(values: Sequence[float]) -> IntervalStats:
    """n, mean, sample stdev and the Student-t 95 % interval of the mean (no interval for n < 2)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return IntervalStats()
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return IntervalStats(1, mean)
    stdev = statistics.stdev(finite)
    half_width = t_975(len(finite) - 1) * stdev / math.sqrt(len(finite))
    return IntervalStats(len(finite), mean, stdev, (mean - half_width, mean + half_width), half_width)


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two [low, high] intervals overlap (then the data does not tell the two apart)."""
    return a[0] <= b[1] and b[0] <= a[1]
