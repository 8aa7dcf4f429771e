"""Merge several analyzers into one power series by time, summing watts.

MLCommons' workflow merged analyzers line by line, which pairs samples taken at different
moments whenever the meters started, sampled or dropped samples differently. Here each
sample is what it is — the average power over its interval — so another meter's power
over any interval is exact from its cumulative energy, whatever its own sample times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.sample import MISSED_SAMPLE
from reports.metrics import sample_intervals


def _cumulative(
    t_ns: npt.NDArray[np.int64], watts: npt.NDArray[np.float64], interval_ns: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Knots of the cumulative energy (J) and covered time (ns) of one meter's samples."""
    order = np.argsort(t_ns, kind="stable")
    starts, ends = sample_intervals(t_ns[order], interval_ns)
    values = watts[order]
    valid = np.isfinite(values) & (values > 0)
    starts, ends, values = starts[valid], ends[valid], values[valid]
    knots = np.empty(2 * len(ends))
    knots[0::2], knots[1::2] = starts, ends
    energy_steps = np.zeros(len(knots))
    energy_steps[1::2] = values * (ends - starts) / 1e9
    time_steps = np.zeros(len(knots))
    time_steps[1::2] = ends - starts
    return knots, np.cumsum(energy_steps), np.cumsum(time_steps)


def mean_power_over(
    t_ns: npt.NDArray[np.int64],
    watts: npt.NDArray[np.float64],
    interval_ns: int,
    starts_ns: npt.NDArray[np.float64],
    ends_ns: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """One meter's average power over each ``(start, end]``; NaN where it covered < 99 %."""
    knots, energy_j, covered_ns = _cumulative(t_ns, watts, interval_ns)
    if len(knots) == 0:
        return np.full(len(starts_ns), np.nan)
    energy = np.interp(ends_ns, knots, energy_j) - np.interp(starts_ns, knots, energy_j)
    covered = np.interp(ends_ns, knots, covered_ns) - np.interp(starts_ns, knots, covered_ns)
    spans = ends_ns - starts_ns
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = energy * 1e9 / covered
    return np.where(covered >= 0.99 * spans, mean, np.nan)


def merge_by_time(
    primary: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]],
    others: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    interval_ns: int,
    others_interval_ns: Sequence[int] | None = None,
) -> npt.NDArray[np.float64]:
    """Summed watts on the primary meter's sample times; -2 where any meter has no data.
    ``others_interval_ns``: each other meter's own sampling interval (default: the primary's)."""
    t_ns, watts = primary
    order = np.argsort(t_ns, kind="stable")
    starts, ends = sample_intervals(t_ns[order], interval_ns)
    total = np.where(np.isfinite(watts[order]) & (watts[order] > 0), watts[order], np.nan)
    own_ns = others_interval_ns or [interval_ns] * len(others)
    for (other_t_ns, other_watts), other_ns in zip(others, own_ns, strict=True):
        total = total + mean_power_over(other_t_ns, other_watts, other_ns, starts, ends)
    merged = np.empty(len(t_ns))
    merged[order] = np.where(np.isfinite(total), total, MISSED_SAMPLE)
    return merged
