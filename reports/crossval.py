"""A meter beside a certified analyzer: how far it reads from it, and what it is worth.

Over the testing window both meters' power is averaged on the same cells (one reference
sampling interval each, from each meter's cumulative energy, so their sample times need not
match). The lag is the shift of the other meter's cells that best correlates the two (searched
in tenths of an interval); at that lag ``other ≈ offset + gain × reference`` by least squares.
The energy difference compares both meters' energy over the window itself (no shift).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.json_record import known, number, optional
from analyzer_drivers.formats.meter_records import SavedCalibration
from analyzer_drivers.formats.session_meta import AnalyzerRecord, SessionMeta
from analyzer_drivers.meters.specs import METERS
from reports.checks import Check
from reports.merge import mean_power_over
from reports.metrics import weighted_energy
from reports.report_json import JsonDict
from reports.report_parts import PhasePower

LAG_STEPS_PER_INTERVAL = 10
MIN_CELLS = 5
LAG_TIE = 1e-3  # correlations this close are the same fit
Series = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    offset_watts: float
    gain: float
    correlation: float
    lag_s: float
    energy_difference_pct: float | None
    cells: int
    cell_s: float
    residual_rms_watts: float

    def as_dict(self) -> JsonDict:
        return asdict(self)


def own_interval_ns(t_ns: npt.NDArray[np.int64], fallback_ns: int) -> int:
    steps = np.diff(np.sort(t_ns))
    steps = steps[steps > 0]
    return int(np.median(steps)) if len(steps) else fallback_ns


Floats = npt.NDArray[np.float64]


def _cells(begin_ns: int, end_ns: int, cell_ns: int) -> tuple[Floats, Floats]:
    count = int((end_ns - begin_ns) // cell_ns)
    starts = begin_ns + cell_ns * np.arange(count, dtype=np.float64)
    return starts, starts + cell_ns


def _correlation(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if np.count_nonzero(ok) < MIN_CELLS or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return math.nan
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def cross_validate(
    reference: Series, other: Series, begin_ns: int, end_ns: int, interval_ns: int, max_lag_s: float = 10.0
) -> CrossValidation | None:
    """Offset, gain, correlation and lag of ``other`` against ``reference`` over the window;
    None when the window holds fewer than 5 cells both meters cover."""
    other_interval_ns = own_interval_ns(other[0], interval_ns)
    starts, ends = _cells(begin_ns, end_ns, interval_ns)
    ref_watts = mean_power_over(*reference, interval_ns, starts, ends)
    max_lag_ns = min(max_lag_s * 1e9, (end_ns - begin_ns) / 4)
    step_ns = interval_ns / LAG_STEPS_PER_INTERVAL
    scored = []
    for lag_ns in np.arange(-max_lag_ns, max_lag_ns + step_ns / 2, step_ns):
        shifted = mean_power_over(*other, other_interval_ns, starts + lag_ns, ends + lag_ns)
        score = _correlation(ref_watts, shifted)
        if math.isfinite(score):
            scored.append((score, float(lag_ns), shifted))
    if not scored:
        return None
    # A periodic load correlates as well one period later: of the correlation peaks within
    # LAG_TIE of the best, the one at the shortest lag.
    top = max(s[0] for s in scored)
    peaks = [s for i, s in enumerate(scored) if s[0] >= top - LAG_TIE
             and s[0] >= scored[max(i - 1, 0)][0] and s[0] >= scored[min(i + 1, len(scored) - 1)][0]]
    score, lag_ns, shifted = min(peaks, key=lambda s: abs(s[1]))
    ok = np.isfinite(ref_watts) & np.isfinite(shifted)
    gain, offset = np.polyfit(ref_watts[ok], shifted[ok], 1)
    residual = shifted[ok] - (offset + gain * ref_watts[ok])
    # Each meter's mean power over the time it covered: a gap (a stale BMC) is not zero energy.
    ref_watts_avg = weighted_energy(*reference, begin_ns, end_ns, interval_ns).avg_watts
    other_watts_avg = weighted_energy(*other, begin_ns, end_ns, other_interval_ns).avg_watts
    difference = (100 * (other_watts_avg - ref_watts_avg) / ref_watts_avg
                  if ref_watts_avg and other_watts_avg else None)
    return CrossValidation(
        float(offset), float(gain), score, lag_ns / 1e9, difference, int(np.count_nonzero(ok)),
        interval_ns / 1e9, float(np.sqrt(np.mean(residual**2))),
    )


def meter_grade(analyzer: AnalyzerRecord) -> tuple[str, str]:
    """``certified`` for a SPEC-accepted analyzer, ``informative`` for anything else, with why."""
    driver = analyzer.driver or ""
    identify = (analyzer.identify or "").split(",")
    if driver.startswith("ptd"):
        if len(identify) > 8 and identify[8].strip() == "1":
            return "certified", f"PTDaemon identifies {analyzer.name} as a SPEC-accepted analyzer"
        return "informative", "PTDaemon does not report this analyzer as SPEC-accepted"
    model = (analyzer.model or "").upper()
    if driver.startswith("yokogawa") and model in METERS and model != "SIM":
        return "certified", f"{model} is a SPEC-accepted analyzer model (read without PTDaemon)"
    kind = driver.split("-", 1)[0] or "unknown"
    return "informative", f"{analyzer.name} ({kind}) is not a SPEC-accepted analyzer"


def apply_calibration(avg_watts: float | None, calibration: SavedCalibration) -> float | None:
    """A reading corrected by a saved ``other = offset + gain × certified`` calibration."""
    gain, offset = calibration.gain, calibration.offset_watts
    if avg_watts is None or gain is None or offset is None:
        return None
    return (avg_watts - float(offset)) / float(gain) if gain else None


def grade_checks(meta: SessionMeta) -> list[Check]:
    """An informative meter's session is valid for comparison, never MLPerf-valid. (A plug that
    the session marks comparison-grade gets this check from ``reports.comparison`` instead.)"""
    analyzer = meta.primary
    grade, why = meter_grade(analyzer)
    if grade == "certified" or analyzer.has("comparison_accuracy"):
        return []
    return [Check("analyzer_grade", "warning", f"informative: {why} (MLCommons accepts SPEC PTDaemon "
                  "meters only): valid for comparison, not MLPerf-valid")]


@dataclass(frozen=True, kw_only=True)
class CalibrationSection(SavedCalibration):
    """``report.json``'s ``calibration``: the saved fit as session.json keeps it, then what it makes
    of the testing average."""

    corrected_avg_watts: float | None = field(default=None, metadata=known(optional(number)))
    corrected_energy_per_query_mj: float | None = field(default=None, metadata=known(optional(number)))


def calibration_section(meta: SessionMeta, power: PhasePower) -> CalibrationSection | None:
    """A saved calibration of an informative primary meter, applied to its testing average."""
    saved = meta.primary.calibration
    if saved is None:
        return None
    corrected = apply_calibration(power.avg_watts, saved)
    per_query = power.energy_per_query_mj
    ratio = corrected / power.avg_watts if corrected is not None and power.avg_watts else None
    kept = {f.name: getattr(saved, f.name) for f in fields(saved)}
    added = ("corrected_avg_watts", "corrected_energy_per_query_mj")
    return CalibrationSection(
        **{**kept, "json_keys": (*saved.written_keys(), *added)},
        corrected_avg_watts=corrected,
        corrected_energy_per_query_mj=per_query * ratio if per_query is not None and ratio else None,
    )
