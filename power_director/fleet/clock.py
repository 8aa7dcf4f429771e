"""SUT ↔ director clock offset and drift from NTP-style exchanges: pure functions, no root.

One exchange: the director sends at ``t1`` (its clock), the SUT receives at ``t2`` and
replies at ``t3`` (SUT clock), the director receives at ``t4``. Causality alone bounds
the offset θ = SUT − director: ``t3 − t4 ≤ θ ≤ t2 − t1``, an interval as wide as the
round-trip delay. Intersecting the intervals of a batch's rounds gives an estimate
whose error bound is at most half the best (lowest-delay) round trip.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.formats.errors import PowerDirectorError

KEEP_FRACTION = 0.25  # the lowest-delay quarter of a batch dates the estimate


class ClockError(PowerDirectorError):
    """Exchanges that cannot give an estimate (none, or none causally possible)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    t1_ns: int  # director sends
    t2_ns: int  # SUT receives
    t3_ns: int  # SUT replies
    t4_ns: int  # director receives

    @property
    def delay_ns(self) -> int:
        return (self.t4_ns - self.t1_ns) - (self.t3_ns - self.t2_ns)

    @property
    def offset_ns(self) -> int:
        """SUT − director, assuming symmetric paths."""
        return ((self.t2_ns - self.t1_ns) + (self.t3_ns - self.t4_ns)) // 2

    @property
    def mid_ns(self) -> int:
        return (self.t1_ns + self.t4_ns) // 2


@dataclass(frozen=True, slots=True)
class OffsetEstimate:
    """SUT − director at director time ``at_ns``, true within ± ``bound_ns``."""

    at_ns: int
    offset_ns: int
    bound_ns: int
    rounds: int
    best_delay_ns: int


@dataclass(frozen=True, slots=True)
class ClockModel:
    """offset(t) = offset_ns + drift_ppm · 1e-6 · (t − ref_ns), t on the director's clock."""

    ref_ns: int
    offset_ns: int
    drift_ppm: float
    bound_ns: int

    def offset_at(self, director_ns: int) -> int:
        return self.offset_ns + round(self.drift_ppm * 1e-6 * (director_ns - self.ref_ns))

    def to_director_ns(self, sut_ns: int) -> int:
        """A SUT timestamp on the director's clock: solves sut = t + offset_at(t) for t."""
        return self.ref_ns + round(
            (sut_ns - self.offset_ns - self.ref_ns) / (1 + self.drift_ppm * 1e-6)
        )


def estimate_offset(
    exchanges: Sequence[Exchange], keep_fraction: float = KEEP_FRACTION
) -> OffsetEstimate:
    """The offset of one batch: the intersection of every round's causal interval.

    Each interval holds the true offset, so their intersection does too; it is set by
    the fastest one-way trip in each direction and is never wider than the best round.
    """
    usable = sorted((e for e in exchanges if e.delay_ns >= 0), key=lambda e: e.delay_ns)
    if not usable:
        raise ClockError("no usable clock exchange (every round trip was negative)")
    kept = usable[: max(1, math.ceil(len(usable) * keep_fraction))]
    low_ns = max(e.t3_ns - e.t4_ns for e in usable)
    high_ns = min(e.t2_ns - e.t1_ns for e in usable)
    if low_ns > high_ns:  # a clock stepped mid-batch: trust the single best round
        best = kept[0]
        low_ns, high_ns = best.t3_ns - best.t4_ns, best.t2_ns - best.t1_ns
    return OffsetEstimate(
        at_ns=int(statistics.median(e.mid_ns for e in kept)),
        offset_ns=(low_ns + high_ns) // 2,
        bound_ns=-((low_ns - high_ns) // 2),  # ceil of half the width
        rounds=len(exchanges),
        best_delay_ns=kept[0].delay_ns,
    )


def fit_clock(estimates: Sequence[OffsetEstimate]) -> ClockModel:
    """Offset and drift by weighted least squares over batches; the bound covers the residuals."""
    if not estimates:
        raise ClockError("no clock estimates to fit")
    ref_ns = estimates[0].at_ns
    if len(estimates) == 1 or len({e.at_ns for e in estimates}) == 1:
        best = min(estimates, key=lambda e: e.bound_ns)
        return ClockModel(ref_ns, best.offset_ns, 0.0, best.bound_ns)
    weights = [1.0 / float(e.bound_ns + 1000) ** 2 for e in estimates]
    xs = [float(e.at_ns - ref_ns) for e in estimates]
    ys = [float(e.offset_ns) for e in estimates]
    total = sum(weights)
    mean_x = sum(w * x for w, x in zip(weights, xs, strict=True)) / total
    mean_y = sum(w * y for w, y in zip(weights, ys, strict=True)) / total
    spread = sum(w * (x - mean_x) ** 2 for w, x in zip(weights, xs, strict=True))
    slope = (
        sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(weights, xs, ys, strict=True))
        / spread
    )
    model = ClockModel(ref_ns, round(mean_y - slope * mean_x), slope * 1e6, 0)
    worst_ns = max(e.bound_ns + abs(e.offset_ns - model.offset_at(e.at_ns)) for e in estimates)
    return ClockModel(ref_ns, model.offset_ns, model.drift_ppm, worst_ns)
