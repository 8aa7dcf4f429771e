"""Analyzer faults the simulators inject: one type, one parser and one schedule for all of them.

A fault is ``KIND`` or ``KIND@PHASE``. A protocol fault fires once, on the ``FAULT_POLL``-th
read of a matching phase; a data fault spoils samples ``FAULT_SAMPLES`` of every matching
phase. Each simulator says what a kind means on its transport and refuses, with the reason,
a kind that cannot happen there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from analyzer_drivers.formats.sample import Sample

PROTOCOL_FAULTS = ("drop", "restart", "hang", "garbage", "partial")
DATA_FAULTS = ("overrange", "sentinels", "wrong-rate", "clock-jump")
FAULTS = PROTOCOL_FAULTS + DATA_FAULTS
#: Kinds only datacenter meters have (a BMC's frozen reading, an energy counter going down);
#: a simulator accepts them only when it says so.
DATACENTER_FAULTS = ("stale", "counter-wrap")
PHASES = ("ranging", "testing")
FAULT_POLL = 3  # a protocol fault fires on this read of a matching phase, once
FAULT_SAMPLES = range(3, 6)  # the samples a data fault spoils (1-based)
CLOCK_JUMP_NS = 5_000_000_000
OVERRANGE_FACTOR = 4.0
SENTINEL_WATTS = (-1.0, -2.0, math.nan)  # error reading, missed sample, NaN
GARBAGE = "\x00\xff#@!"


@dataclass
class Fault:
    """A fault to inject: ``kind`` from FAULTS, in phases whose name (or mark) ends with ``phase``."""

    kind: str
    phase: str = ""
    fired: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULTS + DATACENTER_FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULTS + DATACENTER_FAULTS)}")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``KIND`` or ``KIND@PHASE`` (e.g. ``drop@testing``)."""
        kind, _, phase = text.partition("@")
        return cls(kind.strip(), phase.strip())

    def applies(self, phase: str) -> bool:
        return phase.endswith(self.phase)


def check_supported(
    faults: Iterable[Fault], simulator: str, refused: Mapping[str, str], extra: Iterable[str] = ()
) -> None:
    """ValueError for a kind ``simulator`` cannot have (``refused`` says why, or a datacenter
    kind not in ``extra``) or a phase it cannot tell apart (it knows only ranging and testing)."""
    allowed = set(extra)
    for fault in faults:
        if fault.kind in DATACENTER_FAULTS and fault.kind not in allowed:
            raise ValueError(f"the {simulator} simulator cannot inject {fault.kind!r}: "
                             "only datacenter meters (Redfish, SNMP) have it")
        if fault.kind in refused:
            raise ValueError(f"the {simulator} simulator cannot inject {fault.kind!r}: {refused[fault.kind]}")
        if fault.phase not in ("", *PHASES):
            raise ValueError(f"the {simulator} simulator knows the phases {' and '.join(PHASES)}, "
                             f"not {fault.phase!r}")


def due_protocol_fault(faults: Iterable[Fault], phase: str, reads: int) -> str | None:
    """The protocol fault the ``reads``-th read of ``phase`` meets, if one is due (each fires once)."""
    if reads < FAULT_POLL:
        return None
    for fault in faults:
        if fault.kind in PROTOCOL_FAULTS and not fault.fired and fault.applies(phase):
            fault.fired = True
            return fault.kind
    return None


def data_faults(faults: Iterable[Fault], phase: str) -> list[str]:
    return [f.kind for f in faults if f.kind in DATA_FAULTS and f.applies(phase)]


def spoil(kind: str, index: int, sample: Sample) -> Sample:
    """A data fault's version of the ``index``-th sample (1-based) of a phase."""
    if index not in FAULT_SAMPLES and kind != "clock-jump":
        return sample
    if kind == "overrange":
        return Sample(sample.t_ns, sample.watts * OVERRANGE_FACTOR, sample.volts,
                      sample.amps * OVERRANGE_FACTOR, sample.pf)
    if kind == "sentinels":
        watts = SENTINEL_WATTS[index - FAULT_SAMPLES.start]
        return Sample(sample.t_ns, watts, sample.volts, sample.amps, sample.pf)
    if kind == "clock-jump" and index >= FAULT_SAMPLES.start:
        return Sample(sample.t_ns + CLOCK_JUMP_NS, sample.watts, sample.volts, sample.amps, sample.pf)
    return sample


def spoil_all(kinds: Iterable[str], index: int, sample: Sample) -> Sample:
    for kind in kinds:
        sample = spoil(kind, index, sample)
    return sample


@dataclass
class PhaseCounter:
    """Reads and samples served in the current phase, for a simulator that tells phases
    apart by its own state (a meter's range mode, a plug's bursts of polls)."""

    phase: str = ""
    reads: int = 0
    samples: int = 0

    def enter(self, phase: str) -> None:
        if phase != self.phase:
            self.phase, self.reads, self.samples = phase, 0, 0
