"""Statistics over repeated testing runs: mean, standard deviation and a 95 % interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.formats.errors import ReportError
from reports.report_json import Fields, JsonDict

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


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """n, mean, sample stdev and the Student-t 95 % interval of the mean (none for n < 2)."""

    n: int = 0
    mean: float | None = None
    stdev: float | None = None
    ci95: tuple[float, float] | None = None
    half_width: float | None = None

    def to_json(self) -> JsonDict:
        return {"n": self.n, "mean": self.mean, "stdev": self.stdev,
                "ci95": [*self.ci95] if self.ci95 is not None else None, "half_width": self.half_width}

    @classmethod
    def from_json(cls, f: Fields) -> IntervalStats:
        stats = (f.number("mean"), f.number("stdev"), _pair(f, "ci95"), f.number("half_width"))
        return cls(f.count("n"), *stats)


def _pair(f: Fields, key: str) -> tuple[float, float] | None:
    values = f.items(key)
    if not values:
        return None
    low, high = [*values, None, None][:2]
    if len(values) != 2 or not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        raise ReportError(f"report.json: {f.where}.{key} is not a [low, high] pair")
    return float(low), float(high)


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
