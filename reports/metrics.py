"""The power metrics of one LoadGen window: MLPerf's method exactly, and a time-weighted one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reports.spl import PowerSeries

NS_PER_MS = 1_000_000
PER_QUERY_SCENARIOS = ("SingleStream", "MultiStream")


@dataclass(frozen=True, slots=True)
class MlperfPower:
    """MLPerf's power metric as MLCommons' submission checker computes it."""

    avg_watts: float | None
    samples_in_window: int
    duration_s: float
    energy_j: float | None
    energy_per_query_mj: float | None


def mlperf_power(
    series: PowerSeries, begin_ns: int, end_ns: int, scenario: str, query_count: int | None
) -> MlperfPower:
    """Samples with ``power_begin < t < power_end`` (strict, at ms resolution) and ``Watts > 0``,
    a plain mean in file order, and for per-query scenarios ``avg × duration_s × 1000 / queries``.
    """
    t_ms = series.t_ns // NS_PER_MS
    begin_ms, end_ms = begin_ns // NS_PER_MS, end_ns // NS_PER_MS
    in_window = (t_ms > begin_ms) & (t_ms < end_ms) & (series.watts > 0)
    watts = series.watts[in_window]
    # timedelta.total_seconds() of two ms stamps: integer microseconds over 10**6.
    duration_s = ((end_ms - begin_ms) * 1000) / 10**6
    if len(watts) == 0:
        return MlperfPower(None, 0, duration_s, None, None)
    # cumsum adds left to right like Python's sum(), so the mean is bit-identical to the checker's.
    avg_watts = float(np.cumsum(watts)[-1]) / len(watts)
    per_query = None
    if scenario in PER_QUERY_SCENARIOS and query_count:
        per_query = avg_watts * duration_s * 1000 / query_count
    return MlperfPower(avg_watts, len(watts), duration_s, avg_watts * duration_s, per_query)


@dataclass(frozen=True, slots=True)
class WeightedEnergy:
    """Energy over exactly ``[begin, end]`` with each sample covering its averaging interval."""

    energy_j: float | None
    avg_watts: float | None
    covered_s: float  # window time covered by valid samples
    gap_s: float  # window time with no valid sample (missing or sentinel), filled at mean power
    longest_gap_s: float


def weighted_energy(
    t_ns: npt.NDArray[np.int64],
    watts: npt.NDArray[np.float64],
    begin_ns: int,
    end_ns: int,
    interval_ns: int,
) -> WeightedEnergy:
    """Integrate power over ``[begin_ns, end_ns]``.

    A sample stamped ``t`` is the meter's average over ``(t_prev, t]``, or over its last
    ``interval_ns`` when the previous sample is further back than 1.5 intervals (a missed
    sample). Samples are weighted by their overlap with the window, so partial samples at
    the edges count in proportion; time with no valid sample is a gap, reported and
    filled with the mean power of the covered time.
    """
    order = np.argsort(t_ns, kind="stable")
    ends = t_ns[order].astype(np.float64)
    values = watts[order]
    previous = np.concatenate(([ends[0] - interval_ns], ends[:-1])) if len(ends) else ends
    starts = np.where(ends - previous <= 1.5 * interval_ns, previous, ends - interval_ns)
    overlap_ns = np.clip(np.minimum(ends, end_ns) - np.maximum(starts, begin_ns), 0.0, None)
    valid = np.isfinite(values) & (values > 0)
    covered_ns = float(overlap_ns[valid].sum())
    window_ns = float(end_ns - begin_ns)
    gap_ns = max(window_ns - covered_ns, 0.0)
    longest_gap_s = _longest_gap_ns(starts[valid], ends[valid], begin_ns, end_ns) / 1e9
    if covered_ns == 0:
        return WeightedEnergy(None, None, 0.0, gap_ns / 1e9, longest_gap_s)
    covered_energy_j = float(np.dot(values[valid], overlap_ns[valid])) / 1e9
    mean_watts = covered_energy_j / (covered_ns / 1e9)
    energy_j = covered_energy_j + mean_watts * gap_ns / 1e9
    return WeightedEnergy(energy_j, energy_j / (window_ns / 1e9), covered_ns / 1e9, gap_ns / 1e9,
                          longest_gap_s)


def _longest_gap_ns(
    starts: npt.NDArray[np.float64], ends: npt.NDArray[np.float64], begin_ns: int, end_ns: int
) -> float:
    """The longest stretch of ``[begin, end]`` that no interval ``(start, end]`` covers."""
    edges_before = np.concatenate(([float(begin_ns)], np.maximum.accumulate(ends)))
    edges_after = np.concatenate((starts, [float(end_ns)]))
    gaps = np.minimum(edges_after, end_ns) - np.maximum(edges_before, begin_ns)
    return float(max(gaps.max(initial=0.0), 0.0))
