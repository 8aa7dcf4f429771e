"""The typed parts of a report that one phase gives: its power by both methods, its sample
coverage, its LoadGen summary and the efficiency they make, as ``report.json`` records
(``reports.report_json``): ``to_json`` writes each exactly as ``report.json`` holds it (keys in
that order), ``from_json`` reads it back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from analyzer_drivers.formats.json_record import integer, number, optional, plain, record
from reports.metrics import WeightedEnergy
from reports.report_json import (
    ReportRecord,
    count,
    key,
    maybe_int,
    maybe_part,
    maybe_real,
    maybe_text,
    named,
    part,
    real,
)

#: ``time_weighted``: the energy over exactly the window (``reports.metrics``).
weighted = plain(WeightedEnergy, {
    "energy_j": optional(number), "avg_watts": optional(number), "covered_s": number, "gap_s": number,
    "longest_gap_s": number, "gap_count": integer, "invalid_samples": integer,
}, {"energy_j": None, "avg_watts": None, "covered_s": 0.0, "gap_s": 0.0, "longest_gap_s": 0.0,
    "gap_count": 0, "invalid_samples": 0})
NO_ENERGY = WeightedEnergy(None, None, 0.0, 0.0, 0.0, 0, 0)


@dataclass(frozen=True)
class Coverage(ReportRecord):
    """How much of the LoadGen window valid samples cover."""

    expected_samples: float = real()
    received_samples: int = count()
    invalid_samples: int = count()
    fraction: float = real()
    gap_count: int = count()
    longest_gap_s: float = real()
    interval_s: float = real()


@dataclass(frozen=True)
class BudgetTerms(ReportRecord):
    """The error budget's terms, in watts of the window's average (``reports.uncertainty``)."""

    analyzer: float | None = maybe_real()  # None: the meter's accuracy is unknown
    window_edges: float = real()
    clock_alignment: float = real()


@dataclass(frozen=True)
class Uncertainty(ReportRecord):
    """The error budget of a phase's average power: root sum of squares of its terms."""

    watts: float | None = maybe_real()
    relative: float | None = maybe_real()
    terms_watts: BudgetTerms = part(BudgetTerms)
    analyzer_source: str | None = maybe_text()
    energy_per_query_mj: float | None = maybe_real(omit_none=True)  # SingleStream, MultiStream


@dataclass(frozen=True)
class PhasePower(ReportRecord):
    """One phase's power in its LoadGen window: MLPerf's method (the headline), the
    time-weighted one beside it, coverage and the error budget."""

    avg_watts: float | None = maybe_real()
    samples_in_window: int = count()
    window_begin: str | None = maybe_text()  # LoadGen's power_begin, as it wrote it
    window_end: str | None = maybe_text()
    duration_s: float = real()
    energy_j: float | None = maybe_real()
    energy_per_query_mj: float | None = maybe_real()
    # LoadGen's query count (derived from QPS for old LoadGen: fractional)
    queries: float | None = maybe_real()
    query_source: str | None = maybe_text()
    time_weighted: WeightedEnergy = key(weighted, NO_ENERGY)
    coverage: Coverage = part(Coverage)
    method_difference_pct: float | None = maybe_real(omit_none=True)  # absent when either energy is
    # the error budget (absent without an average)
    uncertainty: Uncertainty | None = maybe_part(Uncertainty, omit_none=True)

    json_order = ("avg_watts", "samples_in_window", "window_begin", "window_end", "duration_s", "energy_j",
                  "energy_per_query_mj", "queries", "query_source", "time_weighted", "method_difference_pct",
                  "coverage", "uncertainty")

    def value(self, key: str) -> float | None:
        """The headline figure named ``key`` (``avg_watts`` or ``energy_per_query_mj``)."""
        return self.energy_per_query_mj if key == "energy_per_query_mj" else self.avg_watts


@dataclass(frozen=True)
class LoadgenSummary(ReportRecord):
    """What LoadGen's detail log says about a phase."""

    scenario: str | None = maybe_text()
    validity: str | None = maybe_text()
    result_name: str | None = maybe_text()
    result: float | None = maybe_real()
    query_count: float | None = maybe_real()
    samples_per_query: int | None = maybe_int()
    min_duration_ms: int | None = maybe_int()


@dataclass(frozen=True)
class PhaseSection(ReportRecord):
    """``report.json``'s ``testing`` or ``ranging``."""

    power: PhasePower = part(PhasePower)
    loadgen: LoadgenSummary = part(LoadgenSummary)


#: Efficiency figures in the order a report lists them, with their units.
EFFICIENCY_UNITS = {
    "samples_per_second_per_watt": "samples/s/W",
    "queries_per_joule": "queries/J",
    "samples_per_joule": "samples/J",
}


@dataclass(frozen=True)
class Efficiency(ReportRecord):
    """Work per energy: samples/s/W (Offline, Server) or queries and samples per joule
    (SingleStream, MultiStream); none without a LoadGen result to divide."""

    samples_per_second_per_watt: float | None = maybe_real(omit_none=True)
    queries_per_joule: float | None = maybe_real(omit_none=True)
    samples_per_joule: float | None = maybe_real(omit_none=True)

    def items(self) -> Iterator[tuple[str, float]]:
        """The figures there are, in report order."""
        for name in EFFICIENCY_UNITS:
            value = getattr(self, name)
            if value is not None:
                yield name, value

    def first(self) -> tuple[str, float] | None:
        return next(self.items(), None)

    def get(self, name: str) -> float | None:
        return getattr(self, name, None) if name in EFFICIENCY_UNITS else None


@dataclass(frozen=True)
class WindowEnds(ReportRecord):
    """A window's two ends as MLPerf stamps them."""

    begin: str | None = maybe_text()
    end: str | None = maybe_text()


@dataclass(frozen=True)
class ClockWindow(ReportRecord):
    """A phase's LoadGen window as LoadGen stamped it (``raw``) and on the director's clock."""

    raw: WindowEnds = part(WindowEnds)
    corrected: WindowEnds = part(WindowEnds)


@dataclass(frozen=True)
class ClockSection(ReportRecord):
    """The SUT's clock against the director's (a remote workload): offset, drift, error bound."""

    offset_ms: float = real()
    drift_ppm: float | None = maybe_real()
    bound_ms: float = real()
    method: str | None = maybe_text()
    windows: Mapping[str, ClockWindow] = named(record(ClockWindow))  # by phase

