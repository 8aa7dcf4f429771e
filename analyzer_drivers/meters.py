"""Range tables and accuracy specs of the meters we know, by model name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.base import AnalyzerError

_WT300_VOLTS = (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
_WT300_MILLIAMPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_WT300_AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """A meter model's ranges (crest factor 3) and active-power accuracy at 45–66 Hz."""

    model: str
    volts_ranges: tuple[float, ...]
    amps_ranges: tuple[float, ...]
    reading_accuracy: float = 0.001  # fraction of reading
    range_accuracy: float = 0.0005  # fraction of the power range (V-range × A-range)

    def snap_volts(self, volts: float) -> float:
        return snap_up(volts, self.volts_ranges, "V", self.model)

    def snap_amps(self, amps: float) -> float:
        return snap_up(amps, self.amps_ranges, "A", self.model)

    def sample_uncertainty(
        self, watts: float, volts_range: float, amps_range: float, crest_factor: int = 3
    ) -> float:
        """Relative uncertainty of one active-power reading (0.01 is 1 %)."""
        if watts <= 0:
            return float("inf")
        range_term = self.range_accuracy * volts_range * amps_range * (2 if crest_factor == 6 else 1)
        return (self.reading_accuracy * watts + range_term) / watts


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
        MeterSpec("WT330", _WT300_VOLTS, _WT300_AMPS),
        MeterSpec("WT330E", _WT300_VOLTS, _WT300_AMPS),
        MeterSpec("WT333E", _WT300_VOLTS, _WT300_AMPS),
        MeterSpec("SIM", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
    )
}


def meter_spec(model: str) -> MeterSpec | None:
    """The spec of ``model`` (case-insensitive), or None for a meter we have no table for."""
    return METERS.get(model.upper())
