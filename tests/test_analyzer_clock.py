"""The analyzer-clock check: steps back, jumps ahead no outage explains, stamps outside the phase."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from reports.checks import PhaseClock, analyzer_clock

INTERVAL_NS = 100_000_000
T0_NS = 1_800_000_000_000_000_000


def stamps(*offsets_s: float) -> npt.NDArray[np.int64]:
    return np.array([T0_NS + round(s * 1e9) for s in offsets_s], dtype=np.int64)


def test_steady_samples_pass_and_a_doubled_interval_is_no_clock_jump() -> None:
    check = analyzer_clock(stamps(0.1, 0.2, 0.3, 0.5, 0.7), PhaseClock("testing", INTERVAL_NS))
    assert (check.name, check.status) == ("testing_analyzer_clock", "pass")


def test_a_step_back_fails_and_says_nothing_was_corrected() -> None:
    check = analyzer_clock(stamps(0.1, 0.2, 0.3, 0.25, 0.35), PhaseClock("ranging", INTERVAL_NS))
    assert check.status == "fail"
    assert check.reason.startswith("timestamps go back 0.050 s after sample 3 in the ranging phase")
    assert "reported as it stamped them" in check.reason


def test_a_jump_ahead_fails_unless_a_recorded_outage_explains_it() -> None:
    t_ns = stamps(0.1, 0.2, 5.3, 5.4)
    check = analyzer_clock(t_ns, PhaseClock("testing", INTERVAL_NS))
    assert check.status == "fail"
    assert "jump 5.100 s (51 sampling intervals) ahead after sample 2 with no outage recorded" in check.reason
    outage = (T0_NS + 300_000_000, T0_NS + 5_000_000_000)
    assert analyzer_clock(t_ns, PhaseClock("testing", INTERVAL_NS, [outage])).status == "pass"


def test_stamps_outside_the_phase_fail() -> None:
    t_ns = stamps(0.1, 0.2, 0.3)
    inside = PhaseClock("testing", INTERVAL_NS, began_ns=T0_NS, ended_ns=T0_NS + 400_000_000)
    assert analyzer_clock(t_ns, inside).status == "pass"
    early = PhaseClock("testing", INTERVAL_NS, began_ns=T0_NS + 2_000_000_000, ended_ns=T0_NS + 3_000_000_000)
    assert "3 samples stamped up to 1.900 s before the analyzer started" in analyzer_clock(t_ns, early).reason
    late = PhaseClock("testing", INTERVAL_NS, began_ns=T0_NS - 3_000_000_000, ended_ns=T0_NS - 2_000_000_000)
    assert "3 samples stamped up to 2.300 s after the analyzer stopped" in analyzer_clock(t_ns, late).reason
