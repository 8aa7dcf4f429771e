"""The MLPerf power metric and the time-weighted energy, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer_drivers.formats.ptd_line import format_sample_line
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.timefmt import parse_mlperf_time
from reports.metrics import mlperf_power, weighted_energy
from reports.spl import parse_spl_text

BEGIN = "01-22-2021 15:05:10.000"
END = "01-22-2021 15:05:14.000"
B = parse_mlperf_time(BEGIN)
E = parse_mlperf_time(END)
S = 1_000_000_000


def spl(*rows: tuple[int, float]) -> str:
    """spl.txt text with samples at B + offset_ms."""
    lines = [format_sample_line(Sample(B + ms * 1_000_000, w, 230.0, w / 230, 1.0), "m") for ms, w in rows]
    return "\n".join(lines) + "\n"


def test_strict_window_and_positive_watts_only() -> None:
    series = parse_spl_text(
        spl((0, 1000.0), (1, 100.0), (2000, -1.0), (2500, float("nan")), (3000, 200.0),
            (3999, 300.0), (4000, 5000.0))
    )
    result = mlperf_power(series, B, E, "Offline", None)
    # 15:05:10.000 and 15:05:14.000 are on the markers: excluded. -1 and NaN excluded.
    assert result.samples_in_window == 3
    assert result.avg_watts == pytest.approx(200.0)
    assert result.duration_s == 4.0
    assert result.energy_j == pytest.approx(800.0)
    assert result.energy_per_query_mj is None


def test_energy_per_query_for_single_stream() -> None:
    series = parse_spl_text(spl((500, 100.0), (1500, 120.0), (2500, 140.0)))
    result = mlperf_power(series, B, E, "SingleStream", 1000)
    # 120 W × 4 s × 1000 / 1000 queries = 480 mJ per query
    assert result.energy_per_query_mj == pytest.approx(480.0)
    multi = mlperf_power(series, B, E, "MultiStream", 250)
    assert multi.energy_per_query_mj == pytest.approx(1920.0)


def test_no_samples_in_window() -> None:
    result = mlperf_power(parse_spl_text(spl((5000, 100.0))), B, E, "Offline", None)
    assert (result.avg_watts, result.samples_in_window) == (None, 0)


def test_sub_millisecond_stamps_compare_like_the_checker() -> None:
    # spl.txt holds milliseconds: a sample stamped 0.9 ms after power_begin reads as equal to it.
    t_ns = np.array([B + 900_000, B + 1_000_000], dtype=np.int64)
    series = parse_spl_text(spl((0, 1.0), (1, 2.0)))
    assert series.t_ns.tolist() == [B, B + 1_000_000]
    assert mlperf_power(series, B, E, "Offline", None).samples_in_window == 1
    assert t_ns.dtype == np.int64


def test_weighted_energy_of_a_constant_load_is_exact() -> None:
    t_ns = np.arange(B + S, E + 2 * S, S, dtype=np.int64)  # covers (B, E+1 s]
    watts = np.full(len(t_ns), 250.0)
    result = weighted_energy(t_ns, watts, B, E, S)
    assert result.energy_j == pytest.approx(1000.0)
    assert (result.gap_s, result.covered_s) == (0.0, 4.0)


def test_weighted_energy_weights_partial_samples_at_the_edges() -> None:
    # Samples every second at B+0.5 s, B+1.5 s, ...: the first and last cover half-seconds
    # that straddle the window edges.
    t_ns = np.array([B + int(x * S) for x in (0.5, 1.5, 2.5, 3.5, 4.5)], dtype=np.int64)
    watts = np.array([100.0, 200.0, 200.0, 200.0, 400.0])
    result = weighted_energy(t_ns, watts, B, E, S)
    # 0.5 s × 100 + 3 × 200 + 0.5 s × 400 = 850 J
    assert result.energy_j == pytest.approx(850.0)


def test_weighted_energy_reports_and_fills_gaps() -> None:
    t_ns = np.array([B + k * S for k in (1, 2, 3, 4)], dtype=np.int64)
    watts = np.array([100.0, -1.0, 100.0, 100.0])
    result = weighted_energy(t_ns, watts, B, E, S)
    assert result.gap_s == pytest.approx(1.0)
    assert result.longest_gap_s == pytest.approx(1.0)
    assert result.energy_j == pytest.approx(400.0)  # the gap is filled with the mean power


def test_weighted_energy_with_no_samples() -> None:
    empty = np.empty(0, dtype=np.int64)
    result = weighted_energy(empty, np.empty(0), B, E, S)
    assert result.energy_j is None and result.gap_s == pytest.approx(4.0)
