"""The one number of a report and its verdict, as every human-facing view shows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from typing import Any

from reports.metrics import PER_QUERY_SCENARIOS
from reports.model.report import SessionReport
from reports.report_parts import PhasePower


@dataclass(frozen=True, slots=True)
class Headline:
    key: str  # the PhasePower figure the value comes from
    value: float | None
    unit: str

    def text(self) -> str:
        if self.value is None:
            return "no result"
        digits = 3 if self.unit == "mJ/query" else 2
        return f"{self.value:.{digits}f} {self.unit}"


def headline_of(scenario: str | None, power: PhasePower | None) -> Headline:
    """mJ/query for SingleStream/MultiStream, else (or without a query count) average watts."""
    if power is None:
        return Headline("avg_watts", None, "W")
    if scenario in PER_QUERY_SCENARIOS and power.energy_per_query_mj is not None:
        return Headline("energy_per_query_mj", float(power.energy_per_query_mj), "mJ/query")
    return Headline("avg_watts", None if power.avg_watts is None else float(power.avg_watts), "W")


def headline(report: SessionReport) -> Headline:
    return headline_of(report.scenario, report.power)


def verdict(report: SessionReport) -> str:
    if not report.valid:
        return "INVALID"
    return "valid" if report.mlperf_valid else "valid (not MLPerf-valid)"


def metric_uncertainty(report: SessionReport) -> float | None:
    """The headline's ± uncertainty in its own unit, from the error budget's relative total."""
    metric = headline(report)
    if report.uncertainty is None or metric.value is None:
        return None
    relative = report.uncertainty.relative
    if isinstance(relative, bool) or not isinstance(relative, (int, float)):
        return None
    return float(relative) * metric.value


def iso_time(text: Any) -> str:
    """LoadGen's ``MM-DD-YYYY HH:MM:SS.mmm`` (UTC) as ISO 8601; anything else as it is."""
    if not isinstance(text, str):
        return "—"
    try:
        stamp = dt.datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f")
    except ValueError:
        return escape(text)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
