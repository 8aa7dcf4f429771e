"""Range tables and accuracy specs of the meters we know, by model name."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from analyzer_drivers.base import AnalyzerError

_WT300_VOLTS = (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
_WT300_MILLIAMPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_WT300_AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
_CF6 = ("6", "6A", "A6")  # the crest factors that halve the ranges and double the range error
#: WT310EH (and the original WT310HC): direct input up to 40 A (IM WT310E-01EN 2.x "Current Range").
_WT300_HIGH_AMPS = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)
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
    """A meter model's ranges (crest factor 3) and active-power accuracy at 45–66 Hz.

    Accuracy (IM WT310E-02EN / IM WT310-02EN §7.3): ±(reading % + range %) at power factor 1;
    for 0 < λ < 1 the manual's power error is reading × [reading % + range % × (power range /
    apparent power) + tan φ × (the influence at λ = 0, % of S)].
    """

    model: str
    volts_ranges: tuple[float, ...]
    amps_ranges: tuple[float, ...]
    reading_accuracy: float = 0.001  # fraction of reading
    range_accuracy: float = 0.0005  # fraction of the power range (V-range × A-range)
    elements: int = 1  # input elements (channels)
    pf_zero_influence: float = 0.001  # the error at λ = 0, fraction of apparent power
    element_numbers: tuple[int, ...] = ()  # the elements' numbers (WT332: 1 and 3); () = 1..elements

    def __post_init__(self) -> None:  # in order, for snapping (it runs for every sample)
        object.__setattr__(self, "volts_ranges", tuple(sorted(self.volts_ranges)))
        object.__setattr__(self, "amps_ranges", tuple(sorted(self.amps_ranges)))

    @property
    def numbers(self) -> tuple[int, ...]:
        return self.element_numbers or tuple(range(1, self.elements + 1))

    def snap_volts(self, volts: float) -> float:
        return snap_sorted(volts, self.volts_ranges, "V", self.model)

    def snap_amps(self, amps: float) -> float:
        return snap_sorted(amps, self.amps_ranges, "A", self.model)

    def at_crest_factor(self, crest_factor: int | str) -> MeterSpec:
        """The spec at crest factor 3, 6 or 6A: at 6 and 6A every range is half its crest-factor-3
        value (IM WT310E-01EN 2.x "Voltage Range"/"Current Range")."""
        if str(crest_factor) == "3":
            return self
        if str(crest_factor).upper() not in _CF6:
            raise AnalyzerError(f"crest factor {crest_factor} is not 3, 6 or 6A")
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
        crest_factor: int | str = 3,
        elements: int = 1,
        pf: float = 1.0,
    ) -> float:
        """Relative uncertainty of one active-power reading (0.01 is 1 %).

        ``elements`` > 1 for a sum (Σ) reading known only as its total: each element adds its own
        range term (``accuracy.MeterSetup`` sums the elements' own errors when it has them).
        """
        if not math.isfinite(watts) or watts <= 0:
            return math.inf
        range_w = range_watts(volts_range, amps_range, crest_factor)
        extra_ranges_w = (elements - 1) * self.range_accuracy * range_w * power_factor(pf)
        return (self.power_error_watts(watts, range_w, pf) + extra_ranges_w) / watts

    def power_error_watts(self, watts: float, range_w: float, pf: float = 1.0) -> float:
        """The error of one element's active-power reading, in watts (IM WT310E-02EN / IM
        WT310-02EN §7.3.2, "Power factor influence"): P × [reading % + range % × (power range /
        S) + tan φ × (the influence at λ = 0)], S = P / λ. ``range_w`` is the power range with
        the crest factor's doubling already in (``range_watts``)."""
        lam, magnitude = power_factor(pf), abs(watts)
        tan_phi = math.sqrt(1 - lam * lam) / lam
        return (self.reading_accuracy * magnitude + self.range_accuracy * range_w * lam
                + tan_phi * self.pf_zero_influence * magnitude)


def power_factor(pf: float) -> float:
    """|λ| of a reading; a λ that is not in (0, 1] (unknown: NaN, PTDaemon's -1) counts as 1."""
    return abs(pf) if math.isfinite(pf) and 0 < abs(pf) <= 1 else 1.0


def range_watts(volts_range: float, amps_range: float, crest_factor: int | str = 3) -> float:
    """The power range whose error the manual's range term takes: V-range × A-range, doubled at
    crest factor 6 or 6A ("Accuracy obtained by doubling the measurement range error for the
    accuracy when the crest factor is set to 3", IM WT310E-02EN §7.3.2)."""
    return volts_range * amps_range * (2 if str(crest_factor).upper() in _CF6 else 1)


def snap_sorted(value: float, ranges: Sequence[float], unit: str, model: str) -> float:
    """The smallest of ``ranges`` (ascending) that holds ``value``; an error when none does."""
    if not value <= ranges[-1]:  # NaN too
        raise AnalyzerError(f"{value:g} {unit} is above the largest {model} range ({ranges[-1]:g} {unit})")
    return ranges[bisect.bisect_left(ranges, value)]


def _wt300(model: str, amps: tuple[float, ...], elements: tuple[int, ...] = (1,)) -> MeterSpec:
    """A WT300 (original: 0.1 % of range, 0.2 % of S at λ = 0; IM WT310-02EN §7.3) or WT300E
    (name ends in E or EH: 0.05 % of range, 0.1 % of S; IM WT310E-02EN §7.3) family member."""
    enhanced = model.endswith(("E", "EH"))
    return MeterSpec(
        model, _WT300_VOLTS, amps, range_accuracy=0.0005 if enhanced else 0.001,
        elements=len(elements), pf_zero_influence=0.001 if enhanced else 0.002,
        element_numbers=elements,
    )


#: The WT300/WT300E family. WT332/WT332E elements are 1 and 3, WT333/WT333E 1, 2 and 3
#: (IM WT310-01EN 7.4.2; IM WT310E-01EN). WT330/WT330E name the 3-phase series (PTDaemon's
#: driver names; no *IDN? with them seen): taken as the three-element model.
METERS: dict[str, MeterSpec] = {
    spec.model: spec
    for spec in (
        MeterSpec("WT210", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
        _wt300("WT310", _WT300_MILLIAMPS + _WT300_AMPS),
        _wt300("WT310HC", _WT300_HIGH_AMPS),
        _wt300("WT310E", _WT300_MILLIAMPS + _WT300_AMPS),
        _wt300("WT310EH", _WT300_HIGH_AMPS),
        _wt300("WT330", _WT300_AMPS, (1, 2, 3)),
        _wt300("WT332", _WT300_AMPS, (1, 3)),
        _wt300("WT333", _WT300_AMPS, (1, 2, 3)),
        _wt300("WT330E", _WT300_AMPS, (1, 2, 3)),
        _wt300("WT332E", _WT300_AMPS, (1, 3)),
        _wt300("WT333E", _WT300_AMPS, (1, 2, 3)),
        MeterSpec("SIM", _WT300_VOLTS, _WT300_MILLIAMPS + _WT300_AMPS),
    )
}


def meter_spec(model: str) -> MeterSpec | None:
    """The spec of ``model`` (case-insensitive), or None for a meter we have no table for."""
    return METERS.get(model.upper())


def family_spec(idn_model: str) -> MeterSpec | None:
    """The spec of the longest known model name that ``idn_model`` (an *IDN? model field,
    e.g. ``WT333``, ``WT310EH``) starts with; None when no WT3 name fits."""
    upper = idn_model.strip().upper()
    known = sorted((m for m in METERS if m.startswith("WT3") and upper.startswith(m)), key=len)
    return METERS[known[-1]] if known else None


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
    crest_factor: int | str = 3,
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
        power_range_w = range_watts(volts_range, amps_range, crest_factor) * elements
        headroom = UNCERTAINTY_LIMIT - spec.reading_accuracy
        needed_watts = spec.range_accuracy * power_range_w / headroom
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
