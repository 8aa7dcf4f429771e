"""``report.json``'s ``system`` as records: a multi-node system's power per node, switch and
meter with its combined budget (built by ``reports.multinode``). ``to_json`` writes the keys in
the file's order; ``from_json`` reads them back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analyzer_drivers.formats.json_record import flag, optional, record
from reports.report_json import (
    ReportRecord,
    count,
    key,
    maybe_int,
    maybe_real,
    maybe_text,
    named,
    part,
    parts,
    real,
    texts,
    words,
    yes_no,
)


@dataclass(frozen=True)
class MeterTerms(ReportRecord):
    """One meter's budget terms, in watts of its share (added linearly)."""

    analyzer: float | None = maybe_real()  # None: its accuracy is unknown
    clock: float = real()
    missing_samples: float = real()


@dataclass(frozen=True)
class MeterShare(ReportRecord):
    """One measured meter's share of the system power over the testing window."""

    avg_watts: float = real()
    terms_watts: MeterTerms = part(MeterTerms)
    budget_watts: float = real()
    analyzer_known: bool = yes_no()
    missing_fraction: float = real()
    lost_samples: int | None = maybe_int()  # what a remote meter's agent reported losing / replaying
    replayed_samples: int | None = maybe_int()
    broker_outages: int | None = maybe_int()


@dataclass(frozen=True)
class GroupPower(ReportRecord):
    """A node, or a switch: the sum of its meters' shares, or (a switch without a meter) an
    estimate from its max spec power × provisioning ratio."""

    avg_watts: float = real()
    budget_watts: float = real()
    meters: tuple[str, ...] = texts()
    estimated: bool | None = key(optional(flag))  # None: a node (no such key)
    basis: str | None = maybe_text()  # how an estimate was made

    def written_keys(self) -> tuple[str, ...]:
        if self.json_keys is not None:
            return self.json_keys
        if self.estimated:
            return ("avg_watts", "estimated", "budget_watts", "basis")
        node = ("meters", "avg_watts", "budget_watts")
        return node if self.estimated is None else (*node, "estimated")


@dataclass(frozen=True)
class SystemUncertainty(ReportRecord):
    watts: float = real()
    relative: float = real()
    limit: float = real(0.01)
    complete: bool = yes_no()  # every meter's accuracy known


@dataclass(frozen=True)
class MissingRun(ReportRecord):
    """A meter without data on consecutive primary intervals ``(from_ns, to_ns]``."""

    meter: str = words()
    from_ns: int = count()
    to_ns: int = count()
    intervals: int = count()


@dataclass(frozen=True)
class SystemCoverage(ReportRecord):
    """On how much of the testing window every measured meter had data, and who was missing when."""

    fraction: float = real()
    missing: tuple[MissingRun, ...] = parts(MissingRun)


@dataclass(frozen=True)
class SystemSection(ReportRecord):
    avg_watts: float = real()  # nodes and switches, estimates included
    measured_watts: float = real()
    estimated_watts: float = real()
    energy_j: float = real()
    duration_s: float = real()
    nodes: Mapping[str, GroupPower] = named(record(GroupPower))
    switches: Mapping[str, GroupPower] = named(record(GroupPower))
    meters: Mapping[str, MeterShare] = named(record(MeterShare))
    uncertainty: SystemUncertainty = part(SystemUncertainty)
    energy_per_query_mj: float | None = maybe_real(omit_none=True)  # SingleStream, MultiStream
    coverage: SystemCoverage | None = key(optional(record(SystemCoverage)), name="system_coverage",
                                          omit_none=True)
