"""Meter qualification by MLPerf Training's rule, and EEHPC levels, at their boundaries.

Rule sources: mlcommons/training_policies power_measurement.adoc @ 2ddbe8a49d6bbf3e2d8215c7ec750c0f4f21d256
("Target 5% Accuracy": 5 non-overlapping 1-minute windows per load condition, Olympic scoring, within
x %); Olympic scoring as mlperf_logging 4.1.68's result summarizer computes it; EEHPC WG Power
Measurement Methodology v2.0 RC 1.0 (levels: see reports/eehpc.py for what is read from it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reports.mlperf.eehpc import EehpcInputs, RunFacts, facts, grade, grade_line
from reports.mlperf.qualify import Condition, olympic_mean, qualify

T0_NS = 1_765_000_000 * 10**9


def _series(watts_at: np.ndarray, seconds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """1 Hz readings stamped at the end of each second, with a little meter noise."""
    t_ns = T0_NS + np.arange(1, seconds + 1, dtype=np.int64) * 10**9
    noise = np.random.default_rng(seed).normal(0, 0.5, seconds)
    return t_ns, (watts_at[:seconds] + noise).astype(np.float64)


def _conditions(gain: float, window_s: int = 6) -> list[Condition]:
    seconds = 5 * window_s + 2
    loads = {"idle": np.full(seconds, 120.0),
             "resnet": 400 + 60 * np.sin(np.arange(seconds) / 2.0),
             "bert": 650 + 90 * np.sign(np.sin(np.arange(seconds) / 3.0))}
    out = []
    for k, (name, watts) in enumerate(loads.items()):
        reference = _series(watts, seconds, seed=k)
        candidate = _series(watts * gain, seconds, seed=10 + k)
        out.append(Condition(name, reference, candidate, T0_NS, T0_NS + seconds * 10**9))
    return out


def test_olympic_mean_is_mlperf_loggings() -> None:
    summarizer = pytest.importorskip("mlperf_logging.result_summarizer.result_summarizer")
    values = [5.0, 1.0, 9.0, 3.0, 4.0]
    assert olympic_mean(values) == summarizer._compute_olympic_average(list(values), 0, 1) == 4.0


@pytest.mark.parametrize(("gain", "passes"), [(1.02, True), (0.98, True), (1.08, False), (0.92, False)])
def test_a_meter_within_2_percent_passes_and_8_percent_off_fails(gain: float, passes: bool) -> None:
    result = qualify(_conditions(gain), window_s=6)
    assert result.passed is passes
    for condition in result.conditions:
        assert condition.difference_pct == pytest.approx(100 * (gain - 1), abs=0.3)
        if condition.name != "idle":  # a steady load has no slope to fit: crossval's gain is for loads
            assert condition.crossval is not None and condition.crossval.gain == pytest.approx(gain, abs=0.02)


def test_too_few_conditions_or_a_slow_meter_is_not_the_procedure() -> None:
    result = qualify(_conditions(1.0)[:2], window_s=6)
    assert not result.passed and "load condition" in result.problems[0]


FACTS = RunFacts(core_phase_s=600.0, readings_in_core=600, max_interval_s=1.0, covers_core_phase=True,
                 nodes_measured=64, nodes_total=64, measured_kw=40.0, accuracy_pct=0.5,
                 idle_watts=9000.0, interconnect="measured")


@pytest.mark.parametrize(("change", "level"), [
    ({}, 3),
    ({"idle_watts": None}, 2),
    ({"interconnect": "estimated"}, 2),
    ({"accuracy_pct": 1.01}, 2),
    ({"nodes_measured": 63}, 2),
    ({"accuracy_pct": 2.01}, 1),
    ({"nodes_measured": 7, "measured_kw": 5.0}, 1),  # 1/8 is 8 of 64 nodes
    ({"readings_in_core": 9, "core_phase_s": 9.0}, 1),
    ({"interconnect": "none"}, 1),
    ({"accuracy_pct": 5.01}, 0),
    ({"max_interval_s": 2.0}, 0),
    ({"covers_core_phase": False}, 0),
    ({"nodes_measured": 6, "measured_kw": 4.0}, 0),  # under 1/10 of the machine
    ({"nodes_measured": 8, "measured_kw": 1.9}, 0),  # under 2 kW
    ({"accuracy_pct": None}, 0),
])
def test_each_level_boundary(change: dict[str, object], level: int) -> None:
    result = grade(dataclasses.replace(FACTS, **change))  # type: ignore[arg-type]
    assert result.level == level, grade_line(result)
    if level < 3:
        assert result.missing[level + 1], "the next level says why it is not met"


def test_a_small_machine_measured_whole_meets_the_fraction() -> None:
    small = dataclasses.replace(FACTS, nodes_measured=2, nodes_total=2, measured_kw=0.8)
    assert grade(small).level == 3


def test_a_measured_command_is_graded_from_its_samples() -> None:
    """1 Hz readings covering a 600 s core phase, one node, ±0.5 %: level 3 with idle, 2 without."""
    t_ns = T0_NS + np.arange(0, 603, dtype=np.int64) * 10**9
    inputs = EehpcInputs(t_ns, 10**9, T0_NS + 10**9, T0_NS + 601 * 10**9, 800.0, 0.005, 95.0, 1, None, ())
    assert grade(facts(inputs)).level == 3
    assert grade(facts(dataclasses.replace(inputs, idle_watts=None))).level == 2
    two_nodes = dataclasses.replace(inputs, nodes_measured=2)  # several nodes: the interconnect counts
    assert "interconnect none" in grade_line(grade(facts(two_nodes)))
    gap = np.delete(t_ns, [300, 301])  # a reading lost: one interval stands for 3 s
    assert grade(facts(dataclasses.replace(inputs, t_ns=gap))).level == 0
    late = t_ns[5:]  # the meter started after the core phase did
    assert not facts(dataclasses.replace(inputs, t_ns=late)).covers_core_phase
