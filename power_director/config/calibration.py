"""Saved calibrations: a meter's offset and gain against a certified analyzer, from the
cross-validation of a session where it ran ``beside`` it (``power-director calibrate``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.meter_records import SavedCalibration
from reports.model.report import SessionReport

KEYS = ("meter", "offset_watts", "gain", "from_session")


def calibration_from_report(report: SessionReport, meter: str | None) -> SavedCalibration:
    """The calibration of ``meter`` (a beside meter's driver name; may be omitted when there is
    one) from a session's report. AnalyzerError when the report has none."""
    validated = {b.driver: (b, found) for b in report.beside if (found := b.cross_validation) is not None}
    names = list(validated)
    if meter is None and len(names) == 1:
        meter = names[0]
    if meter is None or meter not in validated:
        raise AnalyzerError(
            f"session {report.session} has no cross-validation for "
            f"{meter or 'one meter'}; cross-validated meters: {', '.join(names) or 'none'}"
        )
    beside, found = validated[meter]
    return SavedCalibration.new(
        meter=meter, name=beside.name, offset_watts=found.offset_watts, gain=found.gain, lag_s=found.lag_s,
        correlation=found.correlation, energy_difference_pct=found.energy_difference_pct,
        from_session=report.session, reference=report.analyzer.name,
        created=dt.datetime.now(dt.timezone.utc).isoformat(),
    )


def load_calibration(path: str, meter: str) -> SavedCalibration:
    """A saved calibration for ``meter``; AnalyzerError for a bad file or another meter's."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnalyzerError(f"cannot read calibration_file {path}: {exc}") from exc
    if not isinstance(data, dict) or any(key not in data for key in KEYS):
        raise AnalyzerError(f"calibration_file {path} lacks {', '.join(KEYS)}")
    try:
        saved = SavedCalibration.from_json(data, f"calibration_file {path}")
    except ReportError as exc:
        raise AnalyzerError(str(exc)) from exc
    if not saved.gain or saved.offset_watts is None:
        raise AnalyzerError(f"calibration_file {path}: gain and offset_watts must be numbers, gain not 0")
    if saved.meter != meter:
        raise AnalyzerError(f"calibration_file {path} is for {saved.meter}, not {meter}")
    return saved
