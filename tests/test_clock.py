"""Clock offset and drift estimation on synthetic four-timestamp exchanges."""

from __future__ import annotations

import random

import pytest

from power_director.fleet.clock import ClockError, ClockModel, Exchange, estimate_offset, fit_clock

MS = 1_000_000
T0 = 1_790_000_000 * 1_000_000_000


def exchange(
    t1_ns: int, offset_ns: int, out_ns: int, back_ns: int, turn_ns: int = 50_000
) -> Exchange:
    """A round with one-way delays ``out_ns`` and ``back_ns`` when SUT = director + offset."""
    t2 = t1_ns + out_ns + offset_ns
    return Exchange(t1_ns, t2, t2 + turn_ns, t1_ns + out_ns + turn_ns + back_ns)


def test_symmetric_delays_give_the_exact_offset() -> None:
    estimate = estimate_offset([exchange(T0, 5000 * MS, 2 * MS, 2 * MS)])
    assert estimate.offset_ns == 5000 * MS
    assert estimate.bound_ns == 2 * MS  # half the round trip


@pytest.mark.parametrize("offset_s", [-7.5, 0.0, 3.25])
def test_jittery_asymmetric_rounds_stay_within_the_bound(offset_s: float) -> None:
    rng = random.Random(42)
    offset_ns = int(offset_s * 1e9)
    rounds = [
        exchange(T0 + i * 50 * MS, offset_ns, rng.randint(10, 30) * MS, rng.randint(10, 30) * MS)
        for i in range(32)
    ]
    estimate = estimate_offset(rounds)
    best_half_rtt = min(e.delay_ns for e in rounds) // 2
    assert abs(estimate.offset_ns - offset_ns) <= estimate.bound_ns <= best_half_rtt + 1
    assert abs(estimate.offset_ns - offset_ns) < 5 * MS


def test_the_lowest_delay_rounds_carry_the_estimate() -> None:
    clean = [exchange(T0 + i * MS, 100 * MS, 1 * MS, 1 * MS) for i in range(4)]
    skewed = [exchange(T0 + i * MS, 100 * MS, 80 * MS, 1 * MS) for i in range(12)]  # queued one way
    estimate = estimate_offset(skewed + clean)
    assert abs(estimate.offset_ns - 100 * MS) <= MS
    assert estimate.best_delay_ns == 2 * MS


def test_impossible_rounds_are_refused() -> None:
    with pytest.raises(ClockError):
        estimate_offset([])
    backwards = Exchange(T0, T0 + 5, T0 + 10, T0 + 2)  # replied before it was asked
    with pytest.raises(ClockError):
        estimate_offset([backwards])


def test_drift_is_recovered_from_batches_across_a_session() -> None:
    drift_ppm = 40.0
    batches = []
    for k in range(4):
        t1 = T0 + k * 60_000 * MS
        offset_ns = 2000 * MS + round(drift_ppm * 1e-6 * (t1 - T0))
        batches.append(
            estimate_offset([exchange(t1 + i * MS, offset_ns, MS // 5, MS // 5) for i in range(8)])
        )
    model = fit_clock(batches)
    assert model.drift_ppm == pytest.approx(drift_ppm, abs=0.5)
    assert abs(model.offset_at(T0 + 90_000 * MS) - (2000 * MS + 3_600_000)) < 50_000


def test_mapping_a_sut_stamp_back_to_the_director() -> None:
    model = ClockModel(ref_ns=T0, offset_ns=5000 * MS, drift_ppm=20.0, bound_ns=MS)
    director_ns = T0 + 30_000 * MS
    sut_ns = director_ns + model.offset_at(director_ns)
    assert abs(model.to_director_ns(sut_ns) - director_ns) <= 1
    single = fit_clock([estimate_offset([exchange(T0, -3 * MS, MS, MS)])])
    assert single.drift_ppm == 0.0 and single.offset_ns == -3 * MS
