"""A meter's accuracy as it measures: its spec at the crest factor in use, the elements a sum (Σ)
reading adds up, and each sample's ± from its reading and ranges (docs/uncertainty.md).

This is the one path: the Yokogawa driver computes each sample's ± here as it measures, and
the report computes it here again from the session's files (``session.json`` records the
crest factor and elements as the driver's facts, ``spl.txt`` each element's reading).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer_drivers.formats.errors import AnalyzerError
from analyzer_drivers.formats.sample import Channel, Sample
from analyzer_drivers.meters.specs import MeterSpec, meter_spec, power_factor, range_watts, snap_sorted

#: The keys of the driver's facts (``AnalyzerInfo.extra``, ``session.json`` ``analyzer.extra``).
CREST_FACTOR_KEY = "crest_factor"
ELEMENTS_KEY = "elements"
_CREST_FACTORS = {"3": "3", "6": "6", "6A": "6A", "A6": "6A"}


@dataclass(frozen=True, slots=True)
class MeterSetup:
    """A meter as it measured: its spec (the crest-factor-3 table), crest factor, the elements it
    read (several: a Σ reading) and what the session did not record (taken as the default)."""

    spec: MeterSpec
    crest_factor: str = "3"
    elements: tuple[int, ...] = (1,)
    assumed: tuple[str, ...] = ()
    #: The spec with the ranges of the crest factor in use (halved at 6 and 6A).
    ranged: MeterSpec = field(init=False, repr=False, compare=False)
    #: V-range × A-range → power range: 1, or 2 at crest factor 6 and 6A (``range_watts``).
    range_factor: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # once: sample_uncertainty runs for every sample
        object.__setattr__(self, "ranged", self.spec.at_crest_factor(self.crest_factor))
        object.__setattr__(self, "range_factor", range_watts(1.0, 1.0, self.crest_factor))

    def facts(self) -> dict[str, str]:
        """What the session must record to compute the same ± later."""
        return {CREST_FACTOR_KEY: self.crest_factor, ELEMENTS_KEY: ",".join(map(str, self.elements))}

    @classmethod
    def recorded(cls, model: str, facts: Mapping[str, Any] | None) -> MeterSetup | None:
        """The setup ``session.json`` records for a meter of ``model``; None when we have no
        spec for it. What it lacks is taken as crest factor 3 and one element, and said."""
        spec = meter_spec(model)
        if spec is None:
            return None
        facts = facts or {}
        crest_factor = _CREST_FACTORS.get(str(facts.get(CREST_FACTOR_KEY, "")).strip().upper())
        elements = _element_numbers(facts.get(ELEMENTS_KEY))
        assumed = (("crest factor (taken as 3)",) if crest_factor is None else ()) + (
            ("elements (taken as one, or the channels in spl.txt)",) if elements is None else ())
        return cls(spec, crest_factor or "3", elements or (1,), assumed)

    def describe(self) -> str:
        summed = f" Σ of elements {', '.join(map(str, self.elements))}" if len(self.elements) > 1 else ""
        lacking = f"; not recorded: {', '.join(self.assumed)}" if self.assumed else ""
        return (f"{self.spec.model}{summed} accuracy spec at crest factor {self.crest_factor} "
                f"and the ranges in use{lacking}")

    def sample_uncertainty(self, sample: Sample, volts_range: float | None, amps_range: float | None
                           ) -> float:
        """The relative ± of one sample (0.01 is 1 %) on fixed ranges, or (None) on the ranges
        auto-ranging picks for its largest element; inf for an invalid sample or one above them.

        A Σ sample with its elements' readings: the sum of each element's error (the
        conservative rule: Yokogawa's WT300/WT300E manuals give none for Σ). A Σ sample without
        them: each element's range term at the sum's λ (``MeterSpec.sample_uncertainty``)."""
        watts = sample.watts
        if not 0 < watts < math.inf:  # not sample.is_valid (NaN fails both), written out: every sample
            return math.inf
        channels = [c for c in sample.channels if math.isfinite(c.watts)] if sample.channels else None
        volts, amps = ((max(c.volts for c in channels), max(c.amps for c in channels)) if channels
                       else (sample.volts, sample.amps))
        ranges_w = self._ranges_w(volts, amps, volts_range, amps_range)
        if ranges_w == math.inf:
            return math.inf
        if channels:
            errors_w = sum(self.spec.power_error_watts(c.watts, ranges_w, element_pf(c)) for c in channels)
            return errors_w / watts
        error_w = self.spec.power_error_watts(watts, ranges_w, sample.pf)
        if len(self.elements) > 1:  # each further element's range term
            error_w += (len(self.elements) - 1) * self.spec.range_accuracy * ranges_w * power_factor(
                sample.pf)
        return error_w / watts

    def _ranges_w(self, volts: float, amps: float, volts_range: float | None, amps_range: float | None
                  ) -> float:
        """The power range (``range_watts``) of the fixed ranges, or of those auto-ranging picks
        for ``volts`` and ``amps``; inf above them (the sample's ± is then inf)."""
        spec = self.ranged  # snap_sorted, not its snap_volts/snap_amps wrappers: once per sample
        try:
            volts_range = volts_range or snap_sorted(volts, spec.volts_ranges, "V", spec.model)
            amps_range = amps_range or snap_sorted(amps, spec.amps_ranges, "A", spec.model)
        except AnalyzerError:
            return math.inf
        return volts_range * amps_range * self.range_factor


def element_pf(channel: Channel) -> float:
    """An element's λ: as read, else P / (U × I) (how the meter computes it, S = U × I); NaN
    when neither is known."""
    if math.isfinite(channel.pf) and 0 < abs(channel.pf) <= 1:
        return channel.pf
    apparent = channel.volts * channel.amps
    if math.isfinite(apparent) and apparent > 0 and math.isfinite(channel.watts):
        return min(1.0, abs(channel.watts) / apparent)
    return math.nan


def _element_numbers(value: Any) -> tuple[int, ...] | None:
    parts = [p.strip() for p in str(value).split(",")] if value is not None else []
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
