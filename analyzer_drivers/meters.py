"""Range tables and accuracy specs of the meters we know, by model name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from analyzer_drivers.base import AnalyzerError

_WT300_VOLTS = (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
_WT300_MILLIAMPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_WT300_AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
#: The WT300E update intervals (s): the meter averages over one and then reports.
WT300_UPDATE_INTERVALS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
#: A WT300E reading above this fraction of its range is over-range (9.9E+37).
OVER_RANGE_FRACTION = 1.4
#: MLPerf's limit on the per-sample uncertainty of active power.
UNCERTAINTY_LIMIT = 0.01
#: Testing current range = this × the largest current seen in ranging (then snapped up).
CURRENT_HEADROOM = 1.1


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """A meter model's ranges (crest factor 3) and active-power accuracy at 45–66 Hz."""

    model: str
    volts_ranges: tuple[float, ...]
    amps_ranges: tuple[float, ...]
    reading_accuracy: float = 0.001  # fraction of reading
    range_accuracy: float = 0.0005  # fraction of the power range (V-range × A-range)
    elements: int = 1  # input elements (channels)

    def snap_volts(self, volts: float) -> float:
        return snap_up(volts, self.volts_ranges, "V", self.model)

    def snap_amps(self, amps: float) -> float:
        return snap_up(amps, self.amps_ranges, "A", self.model)

    def at_crest_factor(self, crest_factor: int) -> MeterSpec:
        """The spec at crest factor 3 or 6: at 6 every range is half its crest-factor-3 value."""
        if crest_factor == 3:
            return self
        if crest_factor != 6:
            raise AnalyzerError(f"crest factor {crest_factor} is not 3 or 6")
        return replace(
            self,
            volts_ranges=tuple(v / 2 for v in self.volts_ranges),
            amps_ranges=tuple(a / 2 for a in self.amps_ranges),
        )

    def sample_uncertainty(
        self,
        watts: float,
        volts_range: float,
        amps_range: float,
        crest_factor: int = 3,
        elements: int = 1,
    ) -> float:
        """Relative uncertainty of one active-power reading (0.01 is 1 %).

        ``elements`` > 1 for a sum (Σ) reading: each element adds its own range term.
        """
        if not math.isfinite(watts) or watts <= 0:
            return math.inf
        range_watts = volts_range * amps_range * (2 if crest_factor == 6 else 1)
        range_term = self.range_accuracy * range_watts * elements
        return (self.reading_accuracy * watts + range_term) / watts

    def auto_range_uncertainty(
        self, watts: float, volts: float, amps: float, crest_factor: int = 3, elements: int = 1
    ) -> float:
        """The uncertainty of a reading taken on the ranges auto-ranging picks for it."""
        try:
            volts_range, amps_range = self.snap_volts(volts), self.snap_amps(amps)
        except AnalyzerError:
            return math.inf
        return self.sample_uncertainty(watts, volts_range, amps_range, crest_factor, elements)


def snap_up(value: float, ranges: Sequence[float], unit: str, model: str) -> float:
    """The smallest range that holds ``value``; an error when none does."""
    for candidate in sorted(ranges):
        if candidate >= value:
            return candidate
    raise AnalyzerError(f"{value:g} {unit} is above the largest {model} range ({max(ranges):g} {unit})")


METERS: dict[str, MeterSpec] = {
    spec.model: spec
    for spec in (
        MeterSpec("WT210", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
        MeterSpec("WT310", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
        MeterSpec("WT310E", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
        MeterSpec("WT330", _WT300_VOLTS, _WT300_AMPS, elements=3),
        MeterSpec("WT330E", _WT300_VOLTS, _WT300_AMPS, elements=3),
        MeterSpec("WT332E", _WT300_VOLTS, _WT300_AMPS, elements=2),
        MeterSpec("WT333E", _WT300_VOLTS, _WT300_AMPS, elements=3),
        MeterSpec("SIM", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
    )
}


def meter_spec(model: str) -> MeterSpec | None:
    """The spec of ``model`` (case-insensitive), or None for a meter we have no table for."""
    return METERS.get(model.upper())


@dataclass(frozen=True, slots=True)
class RangeAdvice:
    """The testing ranges ranging implies, and the worst per-sample uncertainty on them."""

    volts_range: float
    amps_range: float
    worst_uncertainty: float
    warning: str | None


def advise_ranges(
    spec: MeterSpec,
    max_volts: float,
    max_amps: float,
    min_watts: float,
    crest_factor: int = 3,
    elements: int = 1,
) -> RangeAdvice:
    """Predict the testing run's worst per-sample uncertainty from what ranging saw.

    The testing ranges follow the MLPerf rule (max volts; 1.1 × max amps; snapped up);
    the worst sample is the one with the least power. ``warning`` is set above 1 %.
    """
    ranged = spec.at_crest_factor(crest_factor)
    volts_range = ranged.snap_volts(max_volts)
    amps_range = ranged.snap_amps(max_amps * CURRENT_HEADROOM)
    worst = spec.sample_uncertainty(min_watts, volts_range, amps_range, crest_factor, elements)
    warning = None
    if worst > UNCERTAINTY_LIMIT:
        range_watts = volts_range * amps_range * elements * (2 if crest_factor == 6 else 1)
        headroom = UNCERTAINTY_LIMIT - spec.reading_accuracy
        needed_watts = spec.range_accuracy * range_watts / headroom
        warning = (
            f"{spec.model} on {volts_range:g} V × {amps_range:g} A at crest factor {crest_factor}: "
            f"a {min_watts:g} W sample would be {100 * worst:.2f} % uncertain (limit 1 %); "
            f"samples need ≥ {needed_watts:.3g} W on these ranges: reduce the peak current "
            f"or use a smaller meter"
        )
    return RangeAdvice(volts_range, amps_range, worst, warning)


@dataclass(frozen=True, slots=True)
class PlugSpec:
    """A smart plug's stated active-power accuracy: a fraction of reading plus a resolution."""

    kind: str
    reading_accuracy: float
    resolution_watts: float

    def sample_uncertainty(self, watts: float) -> float:
        if not math.isfinite(watts) or watts <= 0:
            return math.inf
        return self.reading_accuracy + self.resolution_watts / 2 / watts


#: Typical calibrated-plug accuracy (inferred: vendors state about ±1–2 %), and the
#: resolution of the reported watts (Tasmota's default WattRes 0: whole watts).
PLUGS: dict[str, PlugSpec] = {
    "tasmota": PlugSpec("tasmota", reading_accuracy=0.02, resolution_watts=1.0),
    "shelly": PlugSpec("shelly", reading_accuracy=0.01, resolution_watts=0.1),
}
