"""The one number of a report and its verdict, as every human-facing view shows them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from typing import Any

from reports.metrics import PER_QUERY_SCENARIOS


@dataclass(frozen=True, slots=True)
class Headline:
    key: str  # the report["power"] key the value comes from
    value: float | None
    unit: str

    def text(self) -> str:
        if self.value is None:
            return "no result"
        digits = 3 if self.unit == "mJ/query" else 2
        return f"{self.value:.{digits}f} {self.unit}"


def headline(report: dict[str, Any]) -> Headline:
    """mJ/query for SingleStream/MultiStream, else (or without a query count) average watts."""
    power = report.get("power", {})
    per_query_mj = power.get("energy_per_query_mj")
    if report.get("scenario") in PER_QUERY_SCENARIOS and per_query_mj is not None:
        return Headline("energy_per_query_mj", float(per_query_mj), "mJ/query")
    avg_watts = power.get("avg_watts")
    return Headline("avg_watts", None if avg_watts is None else float(avg_watts), "W")


def verdict(report: dict[str, Any]) -> str:
    if not report.get("valid"):
        return "INVALID"
    return "valid" if report.get("mlperf_valid") else "valid (not MLPerf-valid)"


def metric_uncertainty(report: dict[str, Any]) -> float | None:
    """The headline's ± uncertainty in its own unit, from the error budget's relative total."""
    budget = report.get("uncertainty")
    metric = headline(report)
    if not isinstance(budget, dict) or metric.value is None:
        return None
    relative = budget.get("relative")
    return float(relative) * metric.value if isinstance(relative, (int, float)) else None


def iso_time(text: Any) -> str:
    """LoadGen's ``MM-DD-YYYY HH:MM:SS.mmm`` (UTC) as ISO 8601; anything else as it is."""
    if not isinstance(text, str):
        return "—"
    try:
        stamp = dt.datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f")
    except ValueError:
        return escape(text)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
