"""``report.json``'s ``system`` as typed objects: a multi-node system's power per node, switch and
meter with its combined budget (built by ``reports.multinode``). ``to_json`` writes the keys in
the file's order; ``from_json`` reads them back leniently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reports.report_json import Fields, JsonDict, json_dict, json_list


@dataclass(frozen=True, slots=True)
class MeterTerms:
    """One meter's budget terms, in watts of its share (added linearly)."""

    analyzer: float | None  # None: its accuracy is unknown
    clock: float
    missing_samples: float

    def to_json(self) -> JsonDict:
        return {"analyzer": self.analyzer, "clock": self.clock, "missing_samples": self.missing_samples}


@dataclass(frozen=True, slots=True)
class MeterShare:
    """One measured meter's share of the system power over the testing window."""

    avg_watts: float
    terms_watts: MeterTerms
    budget_watts: float
    analyzer_known: bool
    missing_fraction: float
    lost_samples: int | None  # what a remote meter's agent reported losing / replaying
    replayed_samples: int | None
    broker_outages: int | None

    def to_json(self) -> JsonDict:
        return {
            "avg_watts": self.avg_watts, "terms_watts": self.terms_watts.to_json(),
            "budget_watts": self.budget_watts, "analyzer_known": self.analyzer_known,
            "missing_fraction": self.missing_fraction, "lost_samples": self.lost_samples,
            "replayed_samples": self.replayed_samples, "broker_outages": self.broker_outages,
        }

    @classmethod
    def from_json(cls, f: Fields) -> MeterShare:
        terms = f.sub("terms_watts") or Fields({}, f"{f.where}.terms_watts")
        return cls(f.real("avg_watts"),
                   MeterTerms(terms.number("analyzer"), terms.real("clock"), terms.real("missing_samples")),
                   f.real("budget_watts"), f.flag("analyzer_known"), f.real("missing_fraction"),
                   f.integer("lost_samples"), f.integer("replayed_samples"), f.integer("broker_outages"))


@dataclass(frozen=True, slots=True)
class GroupPower:
    """A node, or a switch: the sum of its meters' shares, or (a switch without a meter) an
    estimate from its max spec power × provisioning ratio."""

    avg_watts: float
    budget_watts: float
    meters: tuple[str, ...] = ()
    estimated: bool | None = None  # None: a node (no such key)
    basis: str | None = None  # how an estimate was made

    def to_json(self) -> JsonDict:
        if self.estimated:
            return {"avg_watts": self.avg_watts, "estimated": True, "budget_watts": self.budget_watts,
                    "basis": self.basis}
        group: JsonDict = {"meters": json_list(self.meters), "avg_watts": self.avg_watts,
                           "budget_watts": self.budget_watts}
        if self.estimated is not None:
            group["estimated"] = self.estimated
        return group

    @classmethod
    def from_json(cls, f: Fields) -> GroupPower:
        estimated = f.flag("estimated") if f.has("estimated") else None
        return cls(f.real("avg_watts"), f.real("budget_watts"), f.texts("meters"), estimated, f.text("basis"))


@dataclass(frozen=True, slots=True)
class SystemUncertainty:
    watts: float
    relative: float
    limit: float
    complete: bool  # every meter's accuracy known

    def to_json(self) -> JsonDict:
        return {"watts": self.watts, "relative": self.relative, "limit": self.limit,
                "complete": self.complete}


@dataclass(frozen=True, slots=True)
class MissingRun:
    """A meter without data on consecutive primary intervals ``(from_ns, to_ns]``."""

    meter: str
    from_ns: int
    to_ns: int
    intervals: int

    def to_json(self) -> JsonDict:
        return {"meter": self.meter, "from_ns": self.from_ns, "to_ns": self.to_ns,
                "intervals": self.intervals}

    @classmethod
    def from_json(cls, f: Fields) -> MissingRun:
        return cls(f.text("meter") or "", f.integer("from_ns") or 0, f.integer("to_ns") or 0,
                   f.integer("intervals") or 0)


@dataclass(frozen=True, slots=True)
class SystemCoverage:
    """On how much of the testing window every measured meter had data, and who was missing when."""

    fraction: float
    missing: tuple[MissingRun, ...]

    def to_json(self) -> JsonDict:
        return {"fraction": self.fraction, "missing": [m.to_json() for m in self.missing]}

    @classmethod
    def from_json(cls, f: Fields) -> SystemCoverage:
        runs = [MissingRun.from_json(Fields(r, f"{f.where}.missing")) for r in f.items("missing")]
        return cls(f.real("fraction"), tuple(runs))


@dataclass(frozen=True, slots=True)
class SystemSection:
    avg_watts: float  # nodes and switches, estimates included
    measured_watts: float
    estimated_watts: float
    energy_j: float
    duration_s: float
    nodes: Mapping[str, GroupPower]
    switches: Mapping[str, GroupPower]
    meters: Mapping[str, MeterShare]
    uncertainty: SystemUncertainty
    energy_per_query_mj: float | None = None  # SingleStream, MultiStream
    coverage: SystemCoverage | None = None

    def to_json(self) -> JsonDict:
        section: JsonDict = {
            "avg_watts": self.avg_watts, "measured_watts": self.measured_watts,
            "estimated_watts": self.estimated_watts, "energy_j": self.energy_j, "duration_s": self.duration_s,
            "nodes": {k: v.to_json() for k, v in self.nodes.items()},
            "switches": {k: v.to_json() for k, v in self.switches.items()},
            "meters": {k: v.to_json() for k, v in self.meters.items()},
            "uncertainty": self.uncertainty.to_json(),
        }
        if self.energy_per_query_mj is not None:
            section["energy_per_query_mj"] = self.energy_per_query_mj
        if self.coverage is not None:
            section["system_coverage"] = self.coverage.to_json()
        return section

    @classmethod
    def from_json(cls, f: Fields) -> SystemSection:
        budget = f.sub("uncertainty") or Fields({}, f"{f.where}.uncertainty")
        return cls(
            f.real("avg_watts"), f.real("measured_watts"), f.real("estimated_watts"), f.real("energy_j"),
            f.real("duration_s"), _groups(f, "nodes"), _groups(f, "switches"),
            {k: MeterShare.from_json(Fields(v, f"{f.where}.meters.{k}"))
             for k, v in json_dict(f.obj("meters") or {}).items()},
            SystemUncertainty(budget.real("watts"), budget.real("relative"), budget.real("limit", 0.01),
                              budget.flag("complete")),
            f.number("energy_per_query_mj"),
            SystemCoverage.from_json(coverage) if (coverage := f.sub("system_coverage")) else None,
        )


def _groups(f: Fields, key: str) -> dict[str, GroupPower]:
    return {k: GroupPower.from_json(Fields(v, f"{f.where}.{key}.{k}"))
            for k, v in json_dict(f.obj(key) or {}).items()}
