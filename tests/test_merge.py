"""Multichannel sample lines, and merging several analyzers by time rather than by line."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.ptd_line import format_sample_line, parse_sample_line
from analyzer_drivers.formats.sample import Channel, Sample
from reports.merge import merge_by_time
from reports.metrics import weighted_energy
from reports.spl import parse_spl_text

S = 1_000_000_000
T0 = 1_800_000_000 * S


def test_multichannel_line_round_trips() -> None:
    sample = Sample(T0, 300.0, channels=(Channel(120.0, 230.1, 0.55, 0.95), Channel(180.0, 229.9, 0.8, 0.98)))
    line = format_sample_line(sample, "s_testing")
    assert line.startswith("Time,")
    assert ",Watts,300.000000,Volts,-1.000000,Amps,-1.000000,PF,-1.000000," in line
    assert ",Mark,s_testing,Ch1,Watts,120.000000,Volts,230.100000,Amps,0.550000,PF,0.950000,Ch2," in line
    parsed, mark = parse_sample_line(line)
    assert mark == "s_testing" and parsed.watts == 300.0
    assert parsed.channels == sample.channels
    # The sum column is what MLPerf's metric reads from a multichannel spl.txt.
    assert parse_spl_text(line + "\n").watts.tolist() == [300.0]


def test_rl_multichannel_reply_without_mark() -> None:
    line = ("Time,01-22-2021 15:05:14.313,Watts,10,Volts,-1,Amps,-1,PF,-1,"
            "Ch1,Watts,4,Volts,230,Amps,0.02,PF,0.9")
    parsed, mark = parse_sample_line(line)
    assert mark is None and parsed.channels == (Channel(4.0, 230.0, 0.02, 0.9),)


def test_malformed_channel_groups_are_a_clear_error() -> None:
    with pytest.raises(AnalyzerError, match="bad value in PTDaemon sample line"):
        parse_sample_line("Time,01-22-2021 15:05:14.313,Watts,10,Volts,-1,Amps,-1,PF,-1,Ch1,Watts,4")


def power(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each of two supplies draws 100 W, then 300 W from T0 + 5 s."""
    return np.where(t < T0 + 5 * S, 100.0, 300.0)


def integrating_meter(stamps: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """What an integrating meter reports: the mean power since its previous stamp."""
    values = []
    for end in stamps:
        grid = np.linspace(end - S, end, 1001)
        values.append(float(power((grid[1:] + grid[:-1]) / 2).mean()))
    return np.array(values)


def test_time_merge_is_right_where_a_line_merge_is_wrong() -> None:
    # Meter A samples on the second; meter B's clock and sampling run 270 ms apart, and B
    # was started one interval later, so line k of A and line k of B are different moments.
    a_stamps = np.arange(T0 + S, T0 + 11 * S, S, dtype=np.int64)
    b_stamps = np.arange(T0 + 2 * S + 270_000_000, T0 + 12 * S, S, dtype=np.int64)
    a_watts, b_watts = integrating_meter(a_stamps), integrating_meter(b_stamps)
    begin, end = T0 + 2 * S, T0 + 10 * S
    exact_j = 2 * (3 * 100.0 + 5 * 300.0)  # both supplies over [T0+2 s, T0+10 s]

    merged = merge_by_time((a_stamps, a_watts), [(b_stamps, b_watts)], S)
    time_merge_j = weighted_energy(a_stamps, merged, begin, end, S).energy_j
    assert time_merge_j == pytest.approx(exact_j, rel=1e-3)

    count = min(len(a_watts), len(b_watts))
    line_merged = a_watts[:count] + b_watts[:count]
    line_merge_j = weighted_energy(a_stamps[:count], line_merged, begin, end, S).energy_j
    assert line_merge_j is not None and abs(line_merge_j - exact_j) / exact_j > 0.05


def test_a_gap_in_one_meter_is_a_missed_sample_in_the_sum() -> None:
    stamps = np.arange(T0 + S, T0 + 6 * S, S, dtype=np.int64)
    other = stamps[[0, 1, 3, 4]]  # the third sample never arrived
    merged = merge_by_time((stamps, np.full(5, 50.0)), [(other, np.full(4, 70.0))], S)
    assert merged.tolist() == [120.0, 120.0, -2.0, 120.0, 120.0]
