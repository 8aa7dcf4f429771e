"""Meter qualification by MLPerf Training's rule: a meter that is not SPEC-accepted may be used
when it stays within x % (5 %) of one that is.

The rule (mlcommons/training_policies power_measurement.adoc @ 2ddbe8a49d6bbf3e2d8215c7ec750c0f4f21d256,
"Target 5% Accuracy", item 2): measure the same SUT, reporting at 1 Hz, under different load
conditions (e.g. idle and two MLPerf benchmarks); "Olympic scoring of the two meters, for 5
un-overlapped timed durations of 1 minute each, are within x % of each other".

Read here as: per load condition, each meter's average power over each of 5 consecutive,
non-overlapping 1-minute windows (time-weighted, from each meter's own samples); each meter's
Olympic score is the mean of those 5 after dropping the highest and the lowest (as mlperf_logging's
result summarizer scores runs: ``_compute_olympic_average`` with one dropped each side); the
candidate passes a condition when its score is within x % of the reference's. The rule's text does
not say whether the x % compares scores or window-by-window differences: we compare scores and
also report the worst window, so a reader can apply the stricter reading. Window length, count
and x are parameters (defaults: the rule's 60 s, 5, 5 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.errors import ReportError
from reports.crossval import CrossValidation, cross_validate, own_interval_ns
from reports.merge import mean_power_over
from reports.mlperf.rules import RULE_TOLERANCE_PCT, RULE_WINDOW_S, RULE_WINDOWS

Series = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]
MAX_INTERVAL_S = 1.0  # "Reporting frequency at 1 Hz"


@dataclass(frozen=True)
class Condition:
    """One load condition: both meters' samples and the span to cut the windows from."""

    name: str
    reference: Series
    candidate: Series
    begin_ns: int
    end_ns: int


@dataclass(frozen=True)
class ConditionResult:
    name: str
    reference_watts: tuple[float, ...]  # each window's average
    candidate_watts: tuple[float, ...]
    reference_score_watts: float
    candidate_score_watts: float
    difference_pct: float
    worst_window_pct: float
    passed: bool
    crossval: CrossValidation | None


@dataclass(frozen=True)
class Qualification:
    conditions: tuple[ConditionResult, ...]
    tolerance_pct: float
    window_s: float
    windows: int
    problems: tuple[str, ...]  # what keeps the procedure from being the rule's (e.g. too few conditions)

    @property
    def passed(self) -> bool:
        return not self.problems and all(c.passed for c in self.conditions)


def olympic_mean(values: Sequence[float]) -> float:
    """The mean after dropping the highest and the lowest value (all of them when fewer than 3)."""
    ordered = sorted(values)
    kept = ordered[1:-1] if len(ordered) >= 3 else ordered
    return float(np.mean(kept)) if kept else math.nan


def _window_watts(series: Series, begin_ns: int, window_ns: int, count: int) -> npt.NDArray[np.float64]:
    starts = begin_ns + window_ns * np.arange(count, dtype=np.float64)
    interval_ns = own_interval_ns(series[0], window_ns)
    return mean_power_over(series[0], series[1], interval_ns, starts, starts + window_ns)


def qualify_condition(
    condition: Condition, window_s: float, windows: int, tolerance_pct: float
) -> ConditionResult:
    window_ns = int(window_s * 1e9)
    measured_s = (condition.end_ns - condition.begin_ns) / 1e9
    if measured_s * 1e9 < windows * window_ns:
        raise ReportError(f"{condition.name}: {measured_s:.1f} s measured, "
                          f"the procedure needs {windows} windows of {window_s:g} s")
    reference = _window_watts(condition.reference, condition.begin_ns, window_ns, windows)
    candidate = _window_watts(condition.candidate, condition.begin_ns, window_ns, windows)
    if not (np.all(np.isfinite(reference)) and np.all(np.isfinite(candidate))):
        raise ReportError(f"{condition.name}: a meter has gaps inside the windows (each must cover 99 %)")
    ref_score, cand_score = olympic_mean(reference.tolist()), olympic_mean(candidate.tolist())
    difference_pct = 100 * (cand_score - ref_score) / ref_score
    worst_pct = float(np.max(np.abs(100 * (candidate - reference) / reference)))
    interval_ns = own_interval_ns(condition.reference[0], int(1e9))
    versus = cross_validate(condition.reference, condition.candidate, condition.begin_ns,
                            condition.begin_ns + windows * window_ns, interval_ns)
    return ConditionResult(
        condition.name, tuple(reference.tolist()), tuple(candidate.tolist()), ref_score, cand_score,
        difference_pct, worst_pct, abs(difference_pct) <= tolerance_pct, versus,
    )


def _procedure_problems(conditions: Sequence[Condition]) -> list[str]:
    problems = []
    if len(conditions) < 3:
        problems.append(f"{len(conditions)} load condition(s); the rule asks for several (e.g. idle and two "
                        "MLPerf benchmarks)")
    for condition in conditions:
        for role, series in (("reference", condition.reference), ("candidate", condition.candidate)):
            interval_s = own_interval_ns(series[0], 0) / 1e9
            if interval_s > MAX_INTERVAL_S * 1.05:
                problems.append(f"{condition.name}: the {role} reports every {interval_s:.2f} s, not at 1 Hz")
    return problems


def qualify(
    conditions: Sequence[Condition], window_s: float = RULE_WINDOW_S, windows: int = RULE_WINDOWS,
    tolerance_pct: float = RULE_TOLERANCE_PCT,
) -> Qualification:
    """The candidate against the reference under each condition. Raises ReportError when a
    condition is too short or has gaps."""
    results = tuple(qualify_condition(c, window_s, windows, tolerance_pct) for c in conditions)
    return Qualification(results, tolerance_pct, window_s, windows, tuple(_procedure_problems(conditions)))


def qualification_lines(result: Qualification) -> list[str]:
    verdict = "PASS" if result.passed else "FAIL"
    lines = [f"meter qualification (MLPerf Training, within {result.tolerance_pct:g} %, Olympic score of "
             f"{result.windows} × {result.window_s:g} s windows): {verdict}"]
    for c in result.conditions:
        lines.append(f"  {c.name}: reference {c.reference_score_watts:.2f} W, "
                     f"candidate {c.candidate_score_watts:.2f} W, "
                     f"{c.difference_pct:+.2f} % (worst window {c.worst_window_pct:.2f} %)"
                     f" {'pass' if c.passed else 'FAIL'}")
    lines += [f"  not the rule's procedure: {p}" for p in result.problems]
    return lines
