"""What a session learns in ranging: the largest volts and amps each meter saw, the testing
ranges they imply, or the ranges an earlier session chose."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo, Ranges
from analyzer_drivers.formats.errors import PowerDirectorError, ReportError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_layout import (
    PHASE_DIRS,
    SESSION_META,
    read_session_meta,
)
from analyzer_drivers.formats.session_meta import RangeRecord
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.meters.specs import CURRENT_HEADROOM, RangeAdvice, advise_ranges


class SessionError(PowerDirectorError):
    """The session could not complete; the message says why. Raw data is kept."""


def range_inputs(sample: Sample) -> tuple[float, float] | None:
    """The volts and amps a valid sample puts on the meter's ranges: a multichannel meter's
    ranges hold every channel, so the largest channel's."""
    if not sample.is_valid:
        return None
    if sample.channels:
        volts, amps = max(c.volts for c in sample.channels), max(c.amps for c in sample.channels)
    else:
        volts, amps = sample.volts, sample.amps
    return (volts, amps) if math.isfinite(volts) and math.isfinite(amps) else None


@dataclass
class PhaseTally:
    """What a session keeps of one meter's samples in a phase (they are in the journal): a
    fast meter sends millions, so no list. ``track_ranges``: also the largest volts and amps
    and the least power of the samples with range inputs, for ranging."""

    track_ranges: bool = False
    count: int = 0
    last_t_ns: int | None = None
    max_volts: float = -math.inf
    max_amps: float = -math.inf
    min_watts: float = math.inf

    def add(self, batch: Sequence[Sample]) -> None:
        if not batch:
            return
        self.count += len(batch)
        self.last_t_ns = batch[-1].t_ns
        if not self.track_ranges:
            return
        for sample in batch:
            inputs = range_inputs(sample)
            if inputs is not None:
                self.max_volts = max(self.max_volts, inputs[0])
                self.max_amps = max(self.max_amps, inputs[1])
                self.min_watts = min(self.min_watts, sample.watts)

    @property
    def has_range_inputs(self) -> bool:
        return math.isfinite(self.min_watts)


def testing_ranges(seen: PhaseTally, info: AnalyzerInfo) -> Ranges:
    """Voltage range = max volts seen; current range = 1.1 × max amps; snapped up for known meters."""
    if not seen.has_range_inputs:
        raise SessionError("ranging produced no valid samples to choose testing ranges from")
    volts = seen.max_volts
    amps = seen.max_amps * CURRENT_HEADROOM
    setup = MeterSetup.recorded(info.model, info.extra)
    if setup is not None:
        spec = setup.ranged  # the crest factor's ranges
        try:
            return Ranges(volts=spec.snap_volts(volts), amps=spec.snap_amps(amps))
        except AnalyzerError as exc:
            raise SessionError(f"cannot range the testing run: {exc}") from exc
    return Ranges(volts=volts, amps=amps)


def range_advice(info: AnalyzerInfo | None, seen: PhaseTally) -> RangeAdvice | None:
    """What ranging's loads imply for testing on a meter with ranges (``info``: None for one
    without): the worst sample uncertainty and a warning; None where nothing can be said (an
    unknown meter, no volts or amps seen, a load above its ranges: ``testing_ranges`` says so)."""
    setup = MeterSetup.recorded(info.model, info.extra) if info is not None else None
    if setup is None or not seen.has_range_inputs:
        return None
    try:
        return advise_ranges(setup.spec, seen.max_volts, seen.max_amps, seen.min_watts,
                             setup.crest_factor, len(setup.elements))
    except AnalyzerError:
        return None


def range_record(ranges: Ranges | None) -> RangeRecord | None:
    return None if ranges is None else RangeRecord.new(volts=ranges.volts, amps=ranges.amps)


def reused_ranges(session_dir: Path) -> dict[str, Ranges]:
    """The testing ranges an earlier session chose, by analyzer driver, from its ``session.json``."""
    path = session_dir / SESSION_META
    try:
        if not path.is_file():
            raise FileNotFoundError(path)
        meta = read_session_meta(session_dir)
        if not meta.has("analyzers"):
            raise KeyError("analyzers")
        chosen = {str(a.driver): a.ranges["testing"] for a in meta.analyzers}
        if not (session_dir / PHASE_DIRS["ranging"]).is_dir():
            raise KeyError("ranging")
    except (OSError, ReportError, KeyError) as exc:
        raise SessionError(f"cannot reuse the ranging of {session_dir}: no usable {path} "
                           f"with testing ranges and a ranging directory ({type(exc).__name__}: {exc})"
                           ) from None
    return {name: Ranges(volts=r.volts, amps=r.amps) if r and r.is_set else Ranges.auto()
            for name, r in chosen.items()}


