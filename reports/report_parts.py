"""The typed parts of a report that one phase gives: its power by both methods, its sample
coverage, its LoadGen summary and the efficiency they make. ``to_json`` writes each exactly as
``report.json`` holds it (keys in that order); ``from_json`` reads it back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

from reports.metrics import WeightedEnergy
from reports.report_json import Fields, JsonDict, JsonObject, json_dict


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the LoadGen window valid samples cover."""

    expected_samples: float
    received_samples: int
    invalid_samples: int
    fraction: float
    gap_count: int
    longest_gap_s: float
    interval_s: float

    def to_json(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_json(cls, f: Fields) -> Coverage:
        return cls(f.real("expected_samples"), f.count("received_samples"), f.count("invalid_samples"),
                   f.real("fraction"), f.count("gap_count"), f.real("longest_gap_s"), f.real("interval_s"))


def weighted_from_json(f: Fields) -> WeightedEnergy:
    return WeightedEnergy(f.number("energy_j"), f.number("avg_watts"), f.real("covered_s"), f.real("gap_s"),
                          f.real("longest_gap_s"), f.count("gap_count"), f.count("invalid_samples"))


@dataclass(frozen=True, slots=True)
class PhasePower:
    """One phase's power in its LoadGen window: MLPerf's method (the headline), the
    time-weighted one beside it, coverage and the error budget."""

    avg_watts: float | None
    samples_in_window: int
    window_begin: str | None  # LoadGen's power_begin, as it wrote it
    window_end: str | None
    duration_s: float
    energy_j: float | None
    energy_per_query_mj: float | None
    queries: float | None  # LoadGen's query count (derived from QPS for old LoadGen: fractional)
    query_source: str | None
    time_weighted: WeightedEnergy
    coverage: Coverage
    method_difference_pct: float | None = None  # absent from the JSON when either energy is
    uncertainty: JsonObject | None = None  # the error budget (absent without an average)

    def value(self, key: str) -> float | None:
        """The headline figure named ``key`` (``avg_watts`` or ``energy_per_query_mj``)."""
        return self.energy_per_query_mj if key == "energy_per_query_mj" else self.avg_watts

    def to_json(self) -> JsonDict:
        power: JsonDict = {
            "avg_watts": self.avg_watts, "samples_in_window": self.samples_in_window,
            "window_begin": self.window_begin, "window_end": self.window_end,
            "duration_s": self.duration_s, "energy_j": self.energy_j,
            "energy_per_query_mj": self.energy_per_query_mj, "queries": self.queries,
            "query_source": self.query_source, "time_weighted": asdict(self.time_weighted),
        }
        if self.method_difference_pct is not None:
            power["method_difference_pct"] = self.method_difference_pct
        power["coverage"] = self.coverage.to_json()
        if self.uncertainty is not None:
            power["uncertainty"] = json_dict(self.uncertainty)
        return power

    @classmethod
    def from_json(cls, f: Fields) -> PhasePower:
        weighted, coverage = f.sub("time_weighted"), f.sub("coverage")
        return cls(
            f.number("avg_watts"), f.count("samples_in_window"), f.text("window_begin"), f.text("window_end"),
            f.real("duration_s"), f.number("energy_j"), f.number("energy_per_query_mj"), f.number("queries"),
            f.text("query_source"),
            weighted_from_json(weighted or Fields({}, f"{f.where}.time_weighted")),
            Coverage.from_json(coverage or Fields({}, f"{f.where}.coverage")),
            f.number("method_difference_pct"), f.obj("uncertainty"),
        )


@dataclass(frozen=True, slots=True)
class LoadgenSummary:
    """What LoadGen's detail log says about a phase."""

    scenario: str | None
    validity: str | None
    result_name: str | None
    result: float | None
    query_count: float | None
    samples_per_query: int | None
    min_duration_ms: int | None

    def to_json(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_json(cls, f: Fields) -> LoadgenSummary:
        return cls(f.text("scenario"), f.text("validity"), f.text("result_name"), f.number("result"),
                   f.number("query_count"), f.integer("samples_per_query"), f.integer("min_duration_ms"))


@dataclass(frozen=True, slots=True)
class PhaseSection:
    """``report.json``'s ``testing`` or ``ranging``."""

    power: PhasePower
    loadgen: LoadgenSummary

    def to_json(self) -> JsonDict:
        return {"power": self.power.to_json(), "loadgen": self.loadgen.to_json()}

    @classmethod
    def from_json(cls, f: Fields) -> PhaseSection:
        power, loadgen = f.sub("power"), f.sub("loadgen")
        return cls(PhasePower.from_json(power or Fields({}, f"{f.where}.power")),
                   LoadgenSummary.from_json(loadgen or Fields({}, f"{f.where}.loadgen")))


#: Efficiency figures in the order a report lists them, with their units.
EFFICIENCY_UNITS = {
    "samples_per_second_per_watt": "samples/s/W",
    "queries_per_joule": "queries/J",
    "samples_per_joule": "samples/J",
}


@dataclass(frozen=True, slots=True)
class Efficiency:
    """Work per energy: samples/s/W (Offline, Server) or queries and samples per joule
    (SingleStream, MultiStream); none without a LoadGen result to divide."""

    samples_per_second_per_watt: float | None = None
    queries_per_joule: float | None = None
    samples_per_joule: float | None = None

    def items(self) -> Iterator[tuple[str, float]]:
        """The figures there are, in report order."""
        for key in EFFICIENCY_UNITS:
            value = getattr(self, key)
            if value is not None:
                yield key, value

    def first(self) -> tuple[str, float] | None:
        return next(self.items(), None)

    def get(self, key: str) -> float | None:
        return getattr(self, key, None) if key in EFFICIENCY_UNITS else None

    def to_json(self) -> dict[str, float]:
        return dict(self.items())

    @classmethod
    def from_json(cls, f: Fields | None) -> Efficiency:
        if f is None:
            return cls()
        return cls(**{key: f.number(key) for key in EFFICIENCY_UNITS})


@dataclass(frozen=True, slots=True)
class ClockWindow:
    """A phase's LoadGen window as LoadGen stamped it (``raw``) and on the director's clock."""

    raw_begin: str | None
    raw_end: str | None
    corrected_begin: str | None
    corrected_end: str | None

    def to_json(self) -> JsonDict:
        return {"raw": {"begin": self.raw_begin, "end": self.raw_end},
                "corrected": {"begin": self.corrected_begin, "end": self.corrected_end}}

    @classmethod
    def from_json(cls, f: Fields) -> ClockWindow:
        raw = f.sub("raw") or Fields({}, f"{f.where}.raw")
        corrected = f.sub("corrected") or Fields({}, f"{f.where}.corrected")
        return cls(raw.text("begin"), raw.text("end"), corrected.text("begin"), corrected.text("end"))


@dataclass(frozen=True, slots=True)
class ClockSection:
    """The SUT's clock against the director's (a remote workload): offset, drift, error bound."""

    offset_ms: float
    drift_ppm: float | None
    bound_ms: float
    method: str | None
    windows: Mapping[str, ClockWindow]  # by phase

    def to_json(self) -> JsonDict:
        return {"offset_ms": self.offset_ms, "drift_ppm": self.drift_ppm, "bound_ms": self.bound_ms,
                "method": self.method, "windows": {k: w.to_json() for k, w in self.windows.items()}}

    @classmethod
    def from_json(cls, f: Fields) -> ClockSection:
        windows = {k: ClockWindow.from_json(Fields(v, f"{f.where}.windows.{k}"))
                   for k, v in (f.obj("windows") or {}).items()}
        return cls(f.real("offset_ms"), f.number("drift_ppm"), f.real("bound_ms"), f.text("method"), windows)
