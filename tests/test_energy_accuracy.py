"""The time-weighted energy against analytic energy, on synthetic sample sets.

A synthetic meter reports, at each stamp, the exact average of P(t) over the time since
its previous sample — what an integrating power analyzer does. The time-weighted method
must land within 0.1 % of the analytic energy; the MLPerf method (plain mean × duration)
is shown where it deviates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from loadgen_bridge.workload import LEAD_INTERVALS
from reports.metrics import weighted_energy

S = 1_000_000_000
BEGIN = 1_800_000_000 * S
END = BEGIN + 20 * S
Power = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


def energy_between(power: Power, a_ns: float, b_ns: float) -> float:
    """∫ P dt in joules, by a fine midpoint rule (exact for piecewise-linear P at this grid)."""
    edges = np.linspace(a_ns, b_ns, 20_001)
    mids = (edges[1:] + edges[:-1]) / 2
    return float(np.sum(power(mids)) * (b_ns - a_ns) / 20_000 / 1e9)


def meter(power: Power, stamps_ns: npt.NDArray[np.int64], interval_ns: int) -> npt.NDArray[np.float64]:
    """Each sample: the mean power since the previous stamp (first: over one interval)."""
    previous = np.concatenate(([stamps_ns[0] - interval_ns], stamps_ns[:-1]))
    return np.array(
        [energy_between(power, a, b) / ((b - a) / 1e9) for a, b in zip(previous, stamps_ns, strict=True)]
    )


def regular_stamps(interval_ns: int, phase_ns: int = 300_000_000) -> npt.NDArray[np.int64]:
    return np.arange(BEGIN - 2 * S + phase_ns, END + 2 * S, interval_ns, dtype=np.int64)


def step(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(t < BEGIN + 7.25 * S, 120.0, 310.0)


def ramp(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 100.0 + 10.0 * (t - BEGIN) / S


def edge_steps(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Idle outside the window, busy inside: a workload that starts and stops at its edges."""
    return np.where((t > BEGIN) & (t < END), 300.0, 100.0)


def steps_and_ramp(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(t < BEGIN + 12.6 * S, ramp(t), 400.0) + np.where(t > BEGIN + 3.3 * S, 50.0, 0.0)


def relative_error(measured: float | None, exact: float) -> float:
    assert measured is not None
    return abs(measured - exact) / exact


def mlperf_energy(stamps: npt.NDArray[np.int64], watts: npt.NDArray[np.float64]) -> float:
    inside = (stamps > BEGIN) & (stamps < END) & (watts > 0)
    return float(watts[inside].mean()) * (END - BEGIN) / 1e9


@pytest.mark.parametrize("power", [step, ramp, steps_and_ramp], ids=["step", "ramp", "steps+ramp"])
def test_regular_sampling(power: Power) -> None:
    stamps = regular_stamps(S)
    result = weighted_energy(stamps, meter(power, stamps, S), BEGIN, END, S)
    exact = energy_between(power, BEGIN, END)
    assert relative_error(result.energy_j, exact) < 1e-3
    assert result.gap_s == 0.0 and result.invalid_samples == 0


def test_irregular_intervals_where_the_plain_mean_is_biased() -> None:
    rng = np.random.default_rng(7)
    # Dense sampling while power is low, sparse while high: the plain mean over-weights low.
    low = BEGIN + np.cumsum(rng.uniform(0.1, 0.3, 60) * S)
    high = low[-1] + np.cumsum(rng.uniform(0.8, 1.2, 14) * S)
    stamps = np.concatenate(([BEGIN - S], low, high, [END + S])).astype(np.int64)

    def power(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(t < low[-1], 100.0, 300.0)

    watts = meter(power, stamps, S)
    exact = energy_between(power, BEGIN, END)
    result = weighted_energy(stamps, watts, BEGIN, END, S)
    assert relative_error(result.energy_j, exact) < 1e-3
    assert relative_error(mlperf_energy(stamps, watts), exact) > 0.2  # documented deviation


def test_sentinels_and_missed_samples_are_gaps_not_silently_dropped() -> None:
    stamps = regular_stamps(S)
    watts = meter(ramp, stamps, S)
    watts[8] = -1.0  # an error reading
    watts[12] = np.nan
    keep = np.ones(len(stamps), bool)
    keep[15:17] = False  # two samples never arrived
    result = weighted_energy(stamps[keep], watts[keep], BEGIN, END, S)
    exact = energy_between(ramp, BEGIN, END)
    assert relative_error(result.energy_j, exact) < 1e-3  # a linear ramp interpolates exactly
    assert result.gap_s == pytest.approx(4.0, abs=1e-6)
    assert result.gap_count == 3 and result.longest_gap_s == pytest.approx(2.0)
    assert result.invalid_samples == 2


def test_gaps_in_a_step_are_flagged_and_bounded() -> None:
    stamps = regular_stamps(S)
    watts = meter(step, stamps, S)
    watts[9] = -2.0  # the missed sample holds the step
    result = weighted_energy(stamps, watts, BEGIN, END, S)
    exact = energy_between(step, BEGIN, END)
    # Interpolating across the step errs by at most the jump over the gap: flagged, and small.
    assert result.gap_s == pytest.approx(1.0)
    assert relative_error(result.energy_j, exact) < (310 - 120) * 1.0 / exact


def test_edge_samples_weighted_by_overlap() -> None:
    # Power that changes only inside the interior: a partial edge sample is then exact.
    stamps = regular_stamps(S, phase_ns=600_000_000)
    result = weighted_energy(stamps, meter(steps_and_ramp, stamps, S), BEGIN, END, S)
    assert relative_error(result.energy_j, energy_between(steps_and_ramp, BEGIN, END)) < 1e-3


def test_a_workload_stepping_exactly_at_the_window_edges() -> None:
    """The hard case for short runs: idle outside the window, busy inside. The edge samples
    average both; their outside part is taken from the samples outside the window."""
    for phase_ns in (100_000_000, 500_000_000, 900_000_000):
        stamps = regular_stamps(S, phase_ns=phase_ns)
        watts = meter(edge_steps, stamps, S)
        exact = energy_between(edge_steps, BEGIN, END)
        assert relative_error(weighted_energy(stamps, watts, BEGIN, END, S).energy_j, exact) < 1e-3
        assert relative_error(mlperf_energy(stamps, watts), exact) > 1e-3  # documented deviation


def test_without_samples_beyond_the_edges_a_short_window_reads_low() -> None:
    """Why ``run`` and ``measure`` measure ``LEAD_INTERVALS`` alone around the workload: with
    only the samples that overlap the window, the edge samples count in proportion to their
    overlap and the load they half missed is lost; one interval beyond each edge restores it."""
    for phase_ns in (250_000_000, 500_000_000, 750_000_000):
        stamps = regular_stamps(S, phase_ns=phase_ns)
        watts = meter(edge_steps, stamps, S)
        exact = energy_between(edge_steps, BEGIN, END)
        for beyond in (0, 1, LEAD_INTERVALS):
            kept = (stamps > BEGIN - beyond * S) & (stamps - S < END + beyond * S)
            energy_j = weighted_energy(stamps[kept], watts[kept], BEGIN, END, S).energy_j
            assert energy_j is not None
            if beyond == 0:  # 200 W × y(1 − y/1 s) missed at each edge (y: its overlap): 1.2-1.7 %
                assert (exact - energy_j) / exact > 0.005, phase_ns
            else:
                assert relative_error(energy_j, exact) < 1e-3, (phase_ns, beyond)
