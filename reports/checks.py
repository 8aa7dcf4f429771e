"""Checks on a measured session: each one passes, warns or fails with a one-line reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["pass", "warning", "fail"]

MLPERF_MIN_DURATION_S = 600.0
MAX_POWER_DROP_FRACTION = 0.05  # testing may not average >5 % below ranging
MAX_DURATION_DROP_FRACTION = 0.50  # testing may not be >50 % shorter than ranging


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, ok: bool, passed: str, failed: str, severity: Status = "fail") -> Check:
    return Check(name, "pass" if ok else severity, passed if ok else failed)


def samples_in_window(phase: str, count: int) -> Check:
    return _check(
        f"{phase}_samples_in_window", count > 0,
        f"{count} samples inside the {phase} LoadGen window",
        f"no power samples inside the {phase} LoadGen window",
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


def testing_power_vs_ranging(testing_watts: float | None, ranging_watts: float | None) -> Check:
    name = "testing_power_vs_ranging"
    if testing_watts is None or ranging_watts is None:
        return Check(name, "fail", "cannot compare testing and ranging power: a phase has no samples")
    drop = (ranging_watts - testing_watts) / ranging_watts
    return _check(
        name, drop <= MAX_POWER_DROP_FRACTION,
        f"testing power {testing_watts:.2f} W is within 5 % of ranging {ranging_watts:.2f} W or above",
        f"testing power {testing_watts:.2f} W is {drop:.1%} below ranging {ranging_watts:.2f} W "
        "(more than 5 %)",
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
