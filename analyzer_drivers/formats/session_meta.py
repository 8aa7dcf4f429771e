"""``session.json`` as a typed ``SessionMeta``: what a session recorded (its analyzers, each
phase's mark, times and clock correction, ranges, reconnects, status, provenance).

``SessionMeta.from_json`` is lenient about what is missing (an old file, a run we imported
has only a few keys: each field has a default) and strict about types (a one-line
``ReportError``). ``to_json`` writes back exactly the object read or built: the same keys in
the same order, keys we do not know carried through.
"""

# ruff: noqa: RUF009  (_field, _many and _by_name return dataclasses.field(); ruff cannot tell)
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.json_record import (
    JsonRecord,
    child,
    dump,
    flag,
    integer,
    json_object,
    known,
    list_of,
    map_of,
    number,
    optional,
    record,
    text,
)
from analyzer_drivers.formats.json_record import json_field as _field
from analyzer_drivers.formats.meter_records import MeterEvidence, SavedCalibration, StatedAccuracy
from analyzer_drivers.formats.timefmt import format_mlperf_time

Stamp = tuple[float, ...]  # [wall_s, monotonic_s], as MLCommons' server.json records a phase


def _many(parse: Any, key: str | None = None) -> Any:
    return dataclasses.field(default=(), metadata=known(list_of(parse), key))


def _by_name(parse: Any) -> Any:
    return dataclasses.field(default_factory=dict, metadata=known(map_of(parse)))


_str, _int, _num = optional(text), optional(integer), optional(number)


@dataclasses.dataclass(frozen=True)
class PhaseTimes:
    """A phase's stamps by name. ``session.json`` keeps them as MLCommons' ``server.json``
    does, a list of ``[wall_s, monotonic_s]``: before the analyzer starts, after its start
    reply, after the workload, after the analyzer stopped. None: not recorded."""

    began_s: float | None = None
    analyzer_started_s: float | None = None
    workload_ended_s: float | None = None
    stopped_s: float | None = None  # the last stamp, once all four are there
    workload_s: float | None = None  # from the start reply to the workload's end, monotonic clock

    @classmethod
    def of_stamps(cls, stamps: tuple[Stamp, ...]) -> PhaseTimes:
        walls = [float(stamp[0]) for stamp in stamps]
        workload_s = None
        if len(stamps) >= 3 and len(stamps[1]) >= 2 and len(stamps[2]) >= 2:
            workload_s = float(stamps[2][1]) - float(stamps[1][1])
        return cls(
            walls[0] if walls else None,
            walls[1] if len(walls) >= 2 else None,
            walls[2] if len(walls) >= 3 else None,
            walls[-1] if len(walls) >= 4 else None,
            workload_s,
        )


def _stamp(value: Any, where: str) -> Stamp:
    stamp: Stamp = list_of(number)(value, where)
    if not stamp:
        raise ReportError(f"{where} is an empty list, not [wall_s, monotonic_s]")
    return stamp


@dataclasses.dataclass(frozen=True, kw_only=True)
class RangeRecord(JsonRecord):
    """A meter's ranges; None (or no key) is auto."""

    volts: float | None = _field(_num)
    amps: float | None = _field(_num)

    @property
    def is_set(self) -> bool:
        """Whether any range was recorded (an imported multichannel run records ``{}``)."""
        return bool(self.json_keys)


RangesByPhase = Mapping[str, "RangeRecord | None"]  # initial, ranging, testing, testing_2…
_ranges = map_of(optional(record(RangeRecord)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnalyzerRecord(JsonRecord):
    """One meter as the session identified it (``analyzers[]``, and ``analyzer``: the primary)."""

    name: str | None = _field(_str)
    model: str | None = _field(_str)
    version: str | None = _field(_str)
    identify: str | None = _field(_str)
    averaging_ms: float | None = _field(_num)
    driver: str | None = _field(_str)
    role: str | None = _field(_str)  # primary, sum, beside
    interval_ms: int | None = _field(_int)
    comparison_accuracy: StatedAccuracy | None = _field(optional(record(StatedAccuracy)))
    extra: Mapping[str, Any] | None = _field(optional(json_object))  # the driver's own facts
    calibration: SavedCalibration | None = _field(optional(record(SavedCalibration)))  # a saved fit
    vendor: str | None = _field(_str)  # the maker, as the meter's identify reply says it
    serial: str | None = _field(_str)  # a plug's id: its MAC
    firmware: str | None = _field(_str)
    calibration_date: str | None = _field(_str)
    ranges: RangesByPhase = _by_name(optional(record(RangeRecord)))
    worst_sample_uncertainty: float | None = _field(_num)
    range_warning: str | None = _field(_str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stamps(JsonRecord):
    """A window's two ends, in ns and as MLPerf writes them."""

    begin_ns: int | None = _field(_int)
    end_ns: int | None = _field(_int)
    begin: str | None = _field(_str)
    end: str | None = _field(_str)

    @classmethod
    def of(cls, begin_ns: int, end_ns: int) -> Stamps:
        return cls.new(begin_ns=begin_ns, end_ns=end_ns, begin=format_mlperf_time(begin_ns),
                       end=format_mlperf_time(end_ns))


@dataclasses.dataclass(frozen=True, kw_only=True)
class WindowCorrection(JsonRecord):
    """A phase's LoadGen window on the SUT's clock (``raw``) and on the director's (``corrected``)."""

    raw: Stamps | None = _field(optional(record(Stamps)))
    corrected: Stamps | None = _field(optional(record(Stamps)))

    @classmethod
    def of(cls, begin_ns: int, end_ns: int, to_director_ns: Callable[[int], int]) -> WindowCorrection:
        return cls.new(raw=Stamps.of(begin_ns, end_ns),
                       corrected=Stamps.of(to_director_ns(begin_ns), to_director_ns(end_ns)))

    def recorrected(self, to_director_ns: Callable[[int], int]) -> WindowCorrection:
        """The same raw window under a newer clock fit."""
        raw = self.raw
        if raw is None or raw.begin_ns is None or raw.end_ns is None:
            return self
        return self.updated(corrected=Stamps.of(to_director_ns(raw.begin_ns), to_director_ns(raw.end_ns)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhaseRecord(JsonRecord):
    """One phase: its mark, its stamps, the analyzer's mean uncertainty, remote meters'
    evidence, and (a remote SUT) its window's clock correction (kept under ``clock``)."""

    mark: str | None = _field(_str)
    stamps: tuple[Stamp, ...] = _many(_stamp, key="times")
    uncertainty_mean: float | None = _field(_num)
    meters: Mapping[str, MeterEvidence] = _by_name(record(MeterEvidence))
    correction: WindowCorrection | None = None  # written under ``clock.phases``

    @property
    def times(self) -> PhaseTimes:
        return PhaseTimes.of_stamps(self.stamps)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReconnectGap(JsonRecord):
    """An analyzer lost and brought back during a phase."""

    analyzer: str | None = _field(_str)
    mark: str | None = _field(_str)
    error: str | None = _field(_str)
    lost_t_ns: int | None = _field(_int)
    back_t_ns: int | None = _field(_int)
    restarted: bool | None = _field(optional(flag))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClockBatch(JsonRecord):
    when: str | None = _field(_str)
    at_ns: int | None = _field(_int)
    offset_ns: int | None = _field(_int)
    bound_ns: int | None = _field(_int)
    rounds: int | None = _field(_int)
    best_delay_ns: int | None = _field(_int)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClockRecord(JsonRecord):
    """The SUT ↔ director clock fit of a remote session (``clock``). Its ``phases`` (each
    window raw and corrected) live on the phase records; ``SessionMeta`` writes them here."""

    method: str | None = _field(_str)
    offset_ns: int | None = _field(_int)
    ref_ns: int | None = _field(_int)
    drift_ppm: float | None = _field(_num)
    bound_ns: int | None = _field(_int)
    batches: tuple[ClockBatch, ...] = _many(record(ClockBatch))
    phase_order: tuple[str, ...] = ()  # the order ``phases`` was read in
    # Corrections of phases ``phases`` does not name (never written so; kept, not lost).
    orphans: Mapping[str, WindowCorrection] = dataclasses.field(default_factory=dict)

    @classmethod
    def fit(cls, method: str, offset_ns: int, ref_ns: int, drift_ppm: float, bound_ns: int,
            batches: tuple[ClockBatch, ...]) -> ClockRecord:
        """A fit as the director writes it, its ``phases`` (the windows) last."""
        fitted = cls.new(method=method, offset_ns=offset_ns, ref_ns=ref_ns, drift_ppm=drift_ppm,
                         bound_ns=bound_ns, batches=batches)
        return dataclasses.replace(fitted, json_keys=(*fitted.written_keys(), "phases"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeRecord(JsonRecord):
    name: str | None = _field(_str)
    meters: tuple[str, ...] = _many(text)  # the drivers that measure this node


@dataclasses.dataclass(frozen=True, kw_only=True)
class SwitchRecord(JsonRecord):
    """A switch: measured by ``meter``, or estimated from its spec."""

    name: str | None = _field(_str)
    meter: str | None = _field(_str)
    max_spec_watts: float | None = _field(_num)
    provisioning_ratio: float | None = _field(_num)
    estimated_watts: float | None = _field(_num)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SystemLayout(JsonRecord):
    """A multinode system (``power_director.config.system.SystemConfig.describe``)."""

    nodes: tuple[NodeRecord, ...] = _many(record(NodeRecord))
    switches: tuple[SwitchRecord, ...] = _many(record(SwitchRecord))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Uuids(JsonRecord):
    client: str | None = _field(_str)
    server: str | None = _field(_str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReusedRanging(JsonRecord):
    session: str | None = _field(_str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionMeta(JsonRecord):
    """``session.json``. Readers use the attributes; writers build a new one with ``updated``
    and the ``with_…`` methods (it is frozen)."""

    session_name: str | None = _field(_str)
    label: str | None = _field(_str)
    status: str | None = _field(_str)  # running, completed, aborted
    error: str | None = _field(_str)
    interval_ms: int | None = _field(_int)
    settle_s: float | None = _field(_num)
    workload: str | None = _field(_str)
    tool_version: str | None = _field(_str)
    host: str | None = _field(_str)
    command: str | None = _field(_str)
    config_hash: str | None = _field(_str)
    system_name: str | None = _field(_str)  # the system under test (power_director.config.system_name)
    system_from: str | None = _field(_str)  # where that name came from
    uuid: Uuids | None = _field(optional(record(Uuids)))
    ranges: RangesByPhase = _by_name(optional(record(RangeRecord)))  # the primary's, by phase
    phases: Mapping[str, PhaseRecord] = _by_name(record(PhaseRecord))
    analyzers: tuple[AnalyzerRecord, ...] = _many(record(AnalyzerRecord))
    analyzer: AnalyzerRecord | None = _field(optional(record(AnalyzerRecord)))  # the primary
    system: SystemLayout | None = _field(optional(record(SystemLayout)))
    machine_nodes: int | None = _field(_int)  # the whole machine's compute nodes ([session] machine_nodes)
    reused_ranging: ReusedRanging | None = _field(optional(record(ReusedRanging)))
    clock: ClockRecord | None = _field(optional(record(ClockRecord)))
    reconnects: tuple[ReconnectGap, ...] = _many(record(ReconnectGap))
    samples: Mapping[str, int] = _by_name(integer)  # journalled samples per analyzer
    # A v3 session's control messages and phases, in the MLCommons wire protocol's own shapes.
    messages: tuple[Mapping[str, Any], ...] | None = _field(optional(list_of(json_object)))
    v3_phases: Mapping[str, Any] | None = _field(optional(json_object))

    @classmethod
    def from_json(cls, data: Any, where: str = "session.json") -> SessionMeta:
        meta = super().from_json(data, where)
        clock = data.get("clock")
        if meta.clock is None or not isinstance(clock, dict) or "phases" not in clock:
            return meta
        where_phases = child(child(where, "clock"), "phases")
        corrections = map_of(record(WindowCorrection))(clock["phases"], where_phases)
        phases = {name: dataclasses.replace(p, correction=corrections.get(name))
                  for name, p in meta.phases.items()}
        orphans = {name: c for name, c in corrections.items() if name not in phases}
        unknown = {k: v for k, v in meta.clock.json_unknown.items() if k != "phases"}
        read = dataclasses.replace(meta.clock, json_unknown=unknown, phase_order=tuple(corrections),
                                   orphans=orphans)
        return dataclasses.replace(meta, phases=phases, clock=read)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.clock is not None and self.clock.has("phases"):
            out["clock"]["phases"] = dump(self.corrections())
        return out

    # --- reading ---------------------------------------------------------------------------
    @property
    def sampling_ms(self) -> int:
        """The primary's sampling interval; 1000 ms (MLPerf's) when the file does not say."""
        return self.interval_ms if self.interval_ms is not None else 1000

    @property
    def primary(self) -> AnalyzerRecord:
        """The primary (wall) analyzer, or an empty record when none was identified."""
        return self.analyzer or AnalyzerRecord()

    def phase(self, name: str) -> PhaseRecord:
        """A phase's record; an empty one when the session has no such phase."""
        return self.phases.get(name) or PhaseRecord()

    @property
    def remote_clock(self) -> ClockRecord | None:
        """The SUT ↔ director clock fit of a remote session; None for a local one."""
        return self.clock if self.clock is not None and self.clock.offset_ns is not None else None

    def corrections(self) -> dict[str, WindowCorrection]:
        """Each phase's window correction, in the order ``clock.phases`` has them."""
        corrected = {name: p.correction for name, p in self.phases.items() if p.correction is not None}
        corrected = {**(self.clock.orphans if self.clock is not None else {}), **corrected}
        order = self.clock.phase_order if self.clock is not None else ()
        return {name: corrected[name] for name in (*(n for n in order if n in corrected),
                                                   *(n for n in corrected if n not in order))}

    def analyzer_of(self, driver: str) -> AnalyzerRecord | None:
        return next((a for a in self.analyzers if a.driver == driver), None)

    # --- writing ---------------------------------------------------------------------------
    def with_phase(self, name: str, phase: PhaseRecord) -> SessionMeta:
        return self.updated(phases={**self.phases, name: phase})

    def with_phase_changes(self, name: str, **changes: Any) -> SessionMeta:
        return self.with_phase(name, self.phase(name).updated(**changes))

    def stamped(self, name: str, stamp: Stamp) -> SessionMeta:
        """Phase ``name`` with one more ``[wall_s, monotonic_s]`` stamp."""
        return self.with_phase_changes(name, stamps=(*self.phase(name).stamps, stamp))

    def with_analyzer(self, driver: str, **changes: Any) -> SessionMeta:
        """``changes`` to the analyzer ``driver`` (in ``analyzers`` and, the primary, ``analyzer``)."""
        analyzers = tuple(a.updated(**changes) if a.driver == driver else a for a in self.analyzers)
        primary = self.analyzer
        if primary is not None and primary.driver == driver:
            primary = primary.updated(**changes)
        return dataclasses.replace(self, analyzers=analyzers, analyzer=primary)

    def with_range(self, phase: str, ranges: RangeRecord | None) -> SessionMeta:
        return self.updated(ranges={**self.ranges, phase: ranges})

    def with_clock(self, clock: ClockRecord, to_director_ns: Callable[[int], int]) -> SessionMeta:
        """A newer clock fit: every phase's window corrected again with it."""
        phases = {name: dataclasses.replace(p, correction=p.correction.recorrected(to_director_ns))
                  if p.correction is not None else p for name, p in self.phases.items()}
        return self.updated(clock=clock, phases=phases)

    def with_correction(self, phase: str, correction: WindowCorrection) -> SessionMeta:
        return self.with_phase(phase, dataclasses.replace(self.phase(phase), correction=correction))
