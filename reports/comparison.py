"""Comparison-grade meters (smart plugs): their stated accuracy as the per-sample uncertainty,
and the checks that keep such a session valid for comparison but never MLPerf-valid."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.session_meta import SessionMeta
from reports.checks import Check
from reports.uncertainty import SampleUncertainty


def comparison_accuracy(meta: SessionMeta) -> tuple[float, float] | None:
    """(reading fraction, resolution W) when the session's meter is comparison-grade (a plug)."""
    stated = meta.primary.comparison_accuracy
    if stated is None:
        return None
    reading, resolution_w = stated.reading, stated.resolution_watts
    if reading is None or resolution_w is None:
        return None
    return float(reading), float(resolution_w)


def comparison_checks(uncertainty: SampleUncertainty | None, count: int) -> list[Check]:
    """A plug session: valid for comparing runs on the same plug, never MLPerf-valid."""
    above = uncertainty.above_one_percent if uncertainty else 0
    return [
        Check("analyzer_grade", "warning",
              "a smart plug is a comparison-grade meter, not an MLPerf Power analyzer (MLCommons "
              "accepts SPEC PTDaemon meters only): valid for comparison, not MLPerf-valid"),
        Check("testing_sample_uncertainty", "warning",
              f"{above} of {count} testing samples above the 1 % MLPerf limit by "
              f"{uncertainty.source if uncertainty else 'its stated accuracy'}: expected of a plug"),
    ]


def stated_uncertainty(stated: tuple[float, float], watts: npt.NDArray[np.float64]) -> SampleUncertainty:
    """Each sample's uncertainty by the plug's stated accuracy: a fraction of reading plus half
    its resolution (analyzer_drivers.meters.specs.PlugSpec)."""
    reading, resolution_w = stated
    with np.errstate(divide="ignore"):
        relative = np.where(watts > 0, reading + resolution_w / 2 / np.where(watts > 0, watts, 1.0), np.inf)
    source = f"the plug's stated accuracy, ±{100 * reading:g} % of reading ± {resolution_w / 2:g} W"
    return SampleUncertainty(relative.astype(np.float64), source)
