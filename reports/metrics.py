"""The power metrics of one LoadGen window: MLPerf's method exactly, and a time-weighted one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.timefmt import NS_PER_MS
from reports.spl import PowerSeries

PER_QUERY_SCENARIOS = ("SingleStream", "MultiStream")


@dataclass(frozen=True, slots=True)
class MlperfPower:
    """MLPerf's power metric as MLCommons' submission checker computes it."""

    avg_watts: float | None
    samples_in_window: int
    duration_s: float
    energy_j: float | None
    energy_per_query_mj: float | None


def mlperf_window_mask(series: PowerSeries, begin_ns: int, end_ns: int) -> npt.NDArray[np.bool_]:
    """The samples MLPerf counts: ``begin < t < end`` at millisecond resolution, ``Watts > 0``."""
    t_ms = series.t_ns // NS_PER_MS
    begin_ms, end_ms = begin_ns // NS_PER_MS, end_ns // NS_PER_MS
    return (t_ms > begin_ms) & (t_ms < end_ms) & (series.watts > 0)


def mlperf_power(
    series: PowerSeries, begin_ns: int, end_ns: int, scenario: str, query_count: float | None
) -> MlperfPower:
    """Samples with ``power_begin < t < power_end`` (strict, at ms resolution) and ``Watts > 0``,
    a plain mean in file order, and for per-query scenarios ``avg × duration_s × 1000 / queries``.
    """
    begin_ms, end_ms = begin_ns // NS_PER_MS, end_ns // NS_PER_MS
    watts = series.watts[mlperf_window_mask(series, begin_ns, end_ns)]
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
    gap_s: float  # window time with no valid sample (missing or sentinel), interpolated
    longest_gap_s: float
    gap_count: int
    invalid_samples: int  # samples in the window whose watts are -1/-2 sentinels or NaN


def sample_intervals(
    t_ns: npt.NDArray[np.int64], interval_ns: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(start, end] of the time each sample averages, for samples sorted by time.

    A sample stamped ``t`` averages ``(t_prev, t]``, or its last ``interval_ns`` when the
    previous sample is further back than 1.5 intervals (a missed sample).
    """
    ends = t_ns.astype(np.float64)
    previous = np.concatenate(([ends[0] - interval_ns], ends[:-1])) if len(ends) else ends
    starts = np.where(ends - previous <= 1.5 * interval_ns, previous, ends - interval_ns)
    return starts, ends


def weighted_energy(
    t_ns: npt.NDArray[np.int64],
    watts: npt.NDArray[np.float64],
    begin_ns: int,
    end_ns: int,
    interval_ns: int,
) -> WeightedEnergy:
    """Integrate power over ``[begin_ns, end_ns]``.

    Each sample is weighted by the overlap of its averaging interval with the window. A
    sample straddling an edge averages power inside and outside the window; its outside
    part is taken at the power of the adjacent sample outside (the workload starts and
    stops at the edges), and the rest of its energy is the window's. Time with no valid sample (missed
    samples, sentinels, NaN) is a gap: it is reported, and filled with power interpolated
    in time between the valid samples around it.
    """
    order = np.argsort(t_ns, kind="stable")
    starts, ends = sample_intervals(t_ns[order], interval_ns)
    values = watts[order]
    valid = np.isfinite(values) & (values > 0)
    in_window = (ends > begin_ns) & (starts < end_ns)
    invalid_samples = int(np.count_nonzero(in_window & ~valid))
    starts, ends, values = starts[valid], ends[valid], values[valid]
    overlap_ns = np.clip(np.minimum(ends, end_ns) - np.maximum(starts, begin_ns), 0.0, None)
    covered_ns = float(overlap_ns.sum())
    gap_starts, gap_ends = _gaps(starts, ends, begin_ns, end_ns)
    gap_ns = gap_ends - gap_starts
    longest_gap_s = float(gap_ns.max(initial=0.0)) / 1e9
    if covered_ns == 0:
        return WeightedEnergy(
            None, None, 0.0, float(end_ns - begin_ns) / 1e9, longest_gap_s, len(gap_ns),
            invalid_samples,
        )
    mids = (starts + ends) / 2
    gap_watts = np.interp((gap_starts + gap_ends) / 2, mids, values)
    energy_ws = values * overlap_ns
    _split_edge_samples(energy_ws, starts, ends, values, begin_ns, end_ns)
    energy_j = (float(energy_ws.sum()) + float(np.dot(gap_watts, gap_ns))) / 1e9
    window_s = (end_ns - begin_ns) / 1e9
    return WeightedEnergy(
        energy_j, energy_j / window_s, covered_ns / 1e9, float(gap_ns.sum()) / 1e9,
        longest_gap_s, len(gap_ns), invalid_samples,
    )


def _split_edge_samples(
    energy_ws: npt.NDArray[np.float64],
    starts: npt.NDArray[np.float64],
    ends: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    begin_ns: int,
    end_ns: int,
) -> None:
    """In place: the window's share of each edge sample's energy (W·ns).

    The outside part's power is extrapolated linearly from the two samples before (after)
    it outside the window — exact for a workload that steps at the edge and for a ramp —
    or taken from the one neighbour there is. Without a contiguous neighbour outside the
    window, the sample counts in proportion to its overlap.
    """
    mids = (starts + ends) / 2
    for edge, step in ((begin_ns, -1), (end_ns, 1)):
        straddling = np.flatnonzero((starts < edge) & (ends > edge))
        if len(straddling) == 0:
            continue
        k = int(straddling[0])
        near, far = k + step, k + 2 * step
        if not 0 <= near < len(values) or not _contiguous(starts, ends, min(k, near), max(k, near)):
            continue
        outside = (starts[k], float(edge)) if step < 0 else (float(edge), ends[k])
        outside_w = values[near]
        if 0 <= far < len(values) and _contiguous(starts, ends, min(near, far), max(near, far)):
            slope = (values[near] - values[far]) / (mids[near] - mids[far])
            outside_w = values[near] + slope * ((outside[0] + outside[1]) / 2 - mids[near])
        whole_ws = values[k] * (ends[k] - starts[k])
        energy_ws[k] = max(whole_ws - outside_w * (outside[1] - outside[0]), 0.0)


def _contiguous(starts: npt.NDArray[np.float64], ends: npt.NDArray[np.float64], a: int, b: int) -> bool:
    """Whether sample ``b``'s interval begins where sample ``a``'s ends."""
    return bool(ends[a] == starts[b])


def _gaps(
    starts: npt.NDArray[np.float64], ends: npt.NDArray[np.float64], begin_ns: int, end_ns: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The stretches of ``[begin, end]`` that no interval ``(start, end]`` covers."""
    covered_until = np.concatenate(([float(begin_ns)], np.maximum.accumulate(ends)))
    next_start = np.concatenate((starts, [float(end_ns)]))
    gap_starts = np.clip(covered_until, begin_ns, end_ns)
    gap_ends = np.clip(next_start, begin_ns, end_ns)
    # A gap narrower than a microsecond is stamp rounding, not a missing sample.
    real = gap_ends - gap_starts > 1000.0
    return gap_starts[real], gap_ends[real]
