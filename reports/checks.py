"""Checks on a measured session: each one passes, warns or fails with a one-line reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from reports.report_json import JsonDict

#: "unknown": nothing recorded to judge by (an imported run has no journal, say); never a pass.
Status = Literal["pass", "warning", "fail", "unknown"]

MLPERF_MIN_DURATION_S = 600.0
MAX_POWER_DROP_FRACTION = 0.05  # testing may not average >5 % below ranging
MAX_DURATION_DROP_FRACTION = 0.50  # testing may not be >50 % shorter than ranging


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    reason: str

    def as_dict(self) -> JsonDict:
        return asdict(self)


def _check(name: str, ok: bool, passed: str, failed: str, severity: Status = "fail") -> Check:
    return Check(name, "pass" if ok else severity, passed if ok else failed)


def samples_in_window(phase: str, count: int, zero_watt_readings: int = 0) -> Check:
    """``zero_watt_readings``: readings of exactly 0 W in the window, which MLPerf does not count
    (only Watts > 0): a meter that read an unloaded outlet is not a meter that sent nothing."""
    why = (f": its {zero_watt_readings} readings there are all 0 W (MLPerf counts only readings above 0 W)"
           if zero_watt_readings else "")
    return _check(
        f"{phase}_samples_in_window", count > 0,
        f"{count} samples inside the {phase} LoadGen window",
        f"no power samples inside the {phase} LoadGen window{why}",
    )


def window_inside_measurement(
    phase: str, begin_ns: int, end_ns: int, first_sample_ns: int | None, last_sample_ns: int | None
) -> Check:
    inside = (
        first_sample_ns is not None and last_sample_ns is not None
        and first_sample_ns <= begin_ns and last_sample_ns >= end_ns
    )
    return _check(
        f"{phase}_window_inside_measurement", inside,
        f"the {phase} LoadGen window lies inside the measured interval",
        f"the {phase} LoadGen window is not inside the measured interval "
        "(the analyzer started late or stopped early)",
    )


def loadgen_valid(phase: str, validity: str) -> Check:
    """An invalid testing run fails; an invalid ranging run only warns (it only sets ranges)."""
    return _check(
        f"{phase}_loadgen_valid", validity == "VALID",
        f"LoadGen says the {phase} run is VALID",
        f"LoadGen says the {phase} run is {validity}",
        severity="fail" if phase == "testing" else "warning",
    )


def power_delta_percent(testing_watts: float, ranging_watts: float) -> float:
    """Testing vs ranging power in %, rounded as MLCommons' checker rounds it: each average to
    5 decimals, the delta to 2 (power-dev compliance/check.py phases_check at c4b3ad8)."""
    return round((round(testing_watts, 5) / round(ranging_watts, 5) - 1) * 100, 2)


def testing_power_vs_ranging(testing_watts: float | None, ranging_watts: float | None) -> Check:
    """The checker's rule is ``delta > -5``: a delta of exactly -5.00 % fails."""
    name = "testing_power_vs_ranging"
    if testing_watts is None or ranging_watts is None:
        return Check(name, "fail", "cannot compare testing and ranging power: a phase has no samples")
    delta = power_delta_percent(testing_watts, ranging_watts)
    return _check(
        name, delta > -100 * MAX_POWER_DROP_FRACTION,
        f"testing power {testing_watts:.2f} W is {delta:+.2f} % from ranging {ranging_watts:.2f} W "
        "(more than -5 %)",
        f"testing power {testing_watts:.2f} W is {delta:+.2f} % from ranging {ranging_watts:.2f} W "
        "(MLCommons needs more than -5.00 %)",
    )


def testing_duration_vs_ranging(testing_s: float, ranging_s: float) -> Check:
    shorter = (ranging_s - testing_s) / ranging_s if ranging_s > 0 else 0.0
    return _check(
        "testing_duration_vs_ranging", shorter <= MAX_DURATION_DROP_FRACTION,
        f"testing run {testing_s:.3f} s is not more than 50 % shorter than ranging {ranging_s:.3f} s",
        f"testing run {testing_s:.3f} s is {shorter:.0%} shorter than ranging {ranging_s:.3f} s "
        "(more than 50 %)",
    )


def mlperf_duration(duration_s: float) -> Check:
    return _check(
        "mlperf_min_duration", duration_s >= MLPERF_MIN_DURATION_S,
        f"testing run lasts {duration_s:.1f} s (at least 600 s)",
        f"testing run lasts {duration_s:.1f} s, under the 600 s MLPerf Power needs: "
        "reported, but not MLPerf-valid",
        severity="warning",
    )


MIN_COVERAGE = 0.95
MAX_GAP_INTERVALS = 2.0
# PTDaemon stamps a 1 s sample 0.97-1.03 s after the previous one (real runs under
# tests/fixtures/real-submissions/): a gap is judged with that much slack, so two readings lost
# while auto-ranging (a 2.001 s gap in the v3.0 Qualcomm run) do not fail a 2-interval bound.
GAP_JITTER_INTERVALS = 0.05
MAX_SAMPLE_UNCERTAINTY = 0.01
OVERLOAD_FACTOR = 1.4  # Yokogawa WT300E meters over-range above 140 % of range


def coverage(phase: str, fraction: float, longest_gap_s: float, interval_s: float) -> Check:
    name = f"{phase}_sample_coverage"
    if fraction < MIN_COVERAGE:
        return Check(name, "fail", f"valid samples cover {fraction:.1%} of the {phase} window (< 95 %)")
    if longest_gap_s > (MAX_GAP_INTERVALS + GAP_JITTER_INTERVALS) * interval_s:
        return Check(
            name, "fail",
            f"a {longest_gap_s:.3f} s gap without valid samples in the {phase} window "
            f"(over 2 sampling intervals of {interval_s:g} s, with {GAP_JITTER_INTERVALS:.0%} stamp jitter)",
        )
    return Check(name, "pass", f"valid samples cover {fraction:.1%} of the {phase} window, no long gap")


def sample_uncertainty(above_limit: int | None, count: int, source: str) -> Check:
    name = "testing_sample_uncertainty"
    if above_limit is None:
        return Check(name, "warning", f"per-sample uncertainty unknown ({source})")
    return _check(
        name, above_limit == 0,
        f"all {count} testing samples within 1 % uncertainty ({source})",
        f"{above_limit} of {count} testing samples above 1 % uncertainty ({source}): "
        "lower the current range, or the meter is not accurate enough for MLPerf Power",
    )


def range_overload(overloaded: int, sentinel_errors: int, ranges_known: bool = True) -> Check:
    name = "testing_range_overload"
    if overloaded:
        return Check(name, "fail", f"{overloaded} testing samples above 140 % of the set range, "
                     f"{sentinel_errors} error readings: ranging did not see the peak load")
    if sentinel_errors:
        return Check(name, "fail", f"{sentinel_errors} testing error readings (-1: over range, or a "
                     "reading the analyzer could not make or send)")
    if not ranges_known:
        return Check(name, "unknown", "no testing sample in error; the set ranges are not recorded, "
                     "so over-range samples cannot be told")
    return Check(name, "pass", "no testing sample over range or in error")


def ranging_error_readings(errors: int) -> Check:
    """Error readings while ranging only warn: the testing ranges were chosen without them
    (in testing they fail ``testing_range_overload``)."""
    return _check(
        "ranging_error_readings", errors == 0,
        "no error readings while ranging",
        f"{errors} error readings (-1, -2 or NaN) while ranging: the testing ranges were chosen without them",
        severity="warning",
    )


def window_inside_phase(
    phase: str, begin_ns: int, end_ns: int, started_s: float | None, workload_done_s: float | None
) -> Check:
    """MLCommons' rule: LoadGen's window lies between the start reply and the workload's end."""
    name = f"{phase}_window_inside_phase"
    if started_s is None or workload_done_s is None:
        return Check(name, "warning", f"no phase times recorded for {phase}")
    inside = started_s < begin_ns / 1e9 < workload_done_s and started_s < end_ns / 1e9 < workload_done_s
    return _check(
        name, inside,
        f"the {phase} LoadGen window lies between the analyzer start and the workload's end",
        f"the {phase} LoadGen window is outside the phase (clock skew or a stale log?)",
    )


def analyzer_reconnects(outages_s: list[float], restarted: int) -> Check:
    """A lost analyzer that came back: warn; the coverage checks judge the gap it left."""
    if not outages_s:
        return Check("analyzer_reconnects", "pass", "the analyzer stayed connected")
    return Check(
        "analyzer_reconnects", "warning",
        f"{len(outages_s)} analyzer reconnect(s), longest outage {max(outages_s):.2f} s, "
        f"{restarted} measurement restart(s)",
    )


MAX_CLOCK_STEP_INTERVALS = 10  # a longer step between samples needs an outage to explain it
CLOCK_SLACK_S = 0.5  # how far outside its phase an analyzer may stamp a sample


@dataclass(frozen=True, slots=True)
class PhaseClock:
    """What an analyzer's timestamps in one phase are judged against."""

    phase: str
    interval_ns: int
    outages_ns: Sequence[tuple[int, int]] = ()  # (lost, back) of each reconnect in the phase
    began_ns: int | None = None  # the director's clock before the analyzer started
    ended_ns: int | None = None  # and after it stopped


def analyzer_clock(t_ns: npt.NDArray[np.int64], clock: PhaseClock) -> Check:
    """The analyzer's timestamps, in the order it sent them, must move forward by about the
    sampling interval and lie within the phase: a step back, a jump ahead with no outage to
    explain it, or a stamp outside the phase is its clock jumping. Nothing is corrected."""
    name = f"{clock.phase}_analyzer_clock"
    problem = _clock_step(t_ns, clock) or _clock_outside(t_ns, clock)
    if problem:
        return Check(name, "fail", f"{problem} in the {clock.phase} phase: the analyzer's clock jumped "
                     "(samples are reported as it stamped them)")
    return Check(name, "pass", f"analyzer timestamps of the {clock.phase} phase advance steadily")


def _clock_step(t_ns: npt.NDArray[np.int64], clock: PhaseClock) -> str:
    steps = np.diff(t_ns)
    back = np.flatnonzero(steps < 0)
    if back.size:
        return f"timestamps go back {-steps[back[0]] / 1e9:.3f} s after sample {back[0] + 1}"
    for k in np.flatnonzero(steps > MAX_CLOCK_STEP_INTERVALS * clock.interval_ns):
        if not any(t_ns[k] <= back_ns and t_ns[k + 1] >= lost_ns for lost_ns, back_ns in clock.outages_ns):
            return (f"timestamps jump {steps[k] / 1e9:.3f} s ({steps[k] / clock.interval_ns:.0f} "
                    f"sampling intervals) ahead after sample {k + 1} with no outage recorded")
    return ""


def _clock_outside(t_ns: npt.NDArray[np.int64], clock: PhaseClock) -> str:
    if clock.began_ns is None or clock.ended_ns is None or not len(t_ns):
        return ""
    slack_ns = int(CLOCK_SLACK_S * 1e9)
    late = int(np.count_nonzero(t_ns > clock.ended_ns + slack_ns))
    early = int(np.count_nonzero(t_ns < clock.began_ns - slack_ns))
    if late:
        return (f"{late} samples stamped up to {(int(t_ns.max()) - clock.ended_ns) / 1e9:.3f} s "
                "after the analyzer stopped")
    if early:
        return (f"{early} samples stamped up to {(clock.began_ns - int(t_ns.min())) / 1e9:.3f} s "
                "before the analyzer started")
    return ""
