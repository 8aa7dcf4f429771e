"""MLPerf Training power files checked by mlperf_logging itself (PyPI mlperf-logging 4.1.68, run
unmodified): its package checker's power check (``package_checker/power_checker.py``
``PowerChecker.check_power``) accepts the tree, and its result summarizer's energy
(``result_summarizer._compute_total_power``) equals ours (``reports.mlperf.training``).

The rule restated: mlcommons/training_policies power_measurement.adoc
@ 2ddbe8a49d6bbf3e2d8215c7ec750c0f4f21d256, "Scoring": Σ reading × duration since the previous
reading for a measured node; max spec power × run duration × provisioning ratio for an estimated
interconnect.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from mlperf_logging.compliance_checker.mlp_parser import parse_file
from mlperf_logging.mllog import constants, mllog
from mlperf_logging.package_checker.power_checker import PowerChecker
from mlperf_logging.result_summarizer import result_summarizer

from loadgen_bridge.training_log import TrainingLogError, mllog_events, training_window
from reports.mlperf.training import NodeReadings, SwitchPower, run_energy, write_run

RULESET = "4.1.0"
RUN_START_MS = 1_765_000_000_000


def _training_log(path: Path, start_ms: int, stop_ms: int) -> str:
    """A training job's log as mlperf_logging's own logger writes it."""
    logger = logging.Logger(f"job-{path}")
    logger.addHandler(logging.FileHandler(path, mode="w"))
    writer = mllog.MLLogger(logger=logger)
    writer.event(key=constants.SUBMISSION_BENCHMARK, value="bert", time_ms=start_ms - 5000)
    writer.start(key=constants.RUN_START, time_ms=start_ms)
    writer.end(key=constants.RUN_STOP, time_ms=stop_ms, metadata={"status": "success"})
    for handler in logger.handlers:
        handler.close()
    return path.read_text()


def _node(host: str, base_w: float, seed: int, start_ms: int, stop_ms: int) -> NodeReadings:
    """Readings about once a second (jittered, as a real meter's are), from before start to after stop."""
    rng = np.random.default_rng(seed)
    first_ms, last_ms = start_ms - 1500, stop_ms + 1700
    t_ms = np.arange(first_ms + 1000, last_ms + 1, 1000, dtype=np.int64) + rng.integers(-40, 40, 1)
    watts = base_w + 40 * np.sin(np.arange(len(t_ms)) / 3.0) + rng.normal(0, 5, len(t_ms))
    return NodeReadings(host, t_ms.astype(np.int64), watts.astype(np.float64), first_ms, int(t_ms[-1]))


def _tree(root: Path, runs: int) -> tuple[Path, list[float], list[float]]:
    benchmark_dir = root / "results" / "sys1" / "bert"
    benchmark_dir.mkdir(parents=True)
    ours, window = [], []
    for i in range(runs):
        start_ms = RUN_START_MS + i * 600_000
        stop_ms = start_ms + 61_234 + 1_000 * i
        text = _training_log(root / f"job{i}.txt", start_ms, stop_ms)
        nodes = [_node("node_a", 700.0, 10 * i, start_ms, stop_ms), _node("node_b", 650.0, 10 * i + 1,
                                                                           start_ms, stop_ms)]
        switches = [SwitchPower("sw_ib", estimated_watts=300.0 * 0.5)]
        write_run(benchmark_dir, i, text, nodes, switches, conversion_eff=0.94, measurement_type="AC")
        energy = run_energy(nodes, switches, start_ms, stop_ms, conversion_eff=0.94)
        ours.append(energy.rule_j)
        window.append(energy.window_j)
    return benchmark_dir, ours, window


def test_mlperf_loggings_power_check_and_summarizer_accept_our_tree(tmp_path: Path) -> None:
    benchmark_dir, ours, window = _tree(tmp_path, runs=3)
    result_files = sorted(str(p) for p in benchmark_dir.glob("result_*.txt"))
    valid, errors = PowerChecker(RULESET).check_power(str(benchmark_dir / "power"), result_files)
    assert valid and not errors
    for result_file, expected_j, window_j in zip(result_files, ours, window, strict=True):
        loglines, _ = parse_file(result_file, ruleset=RULESET)
        start, stop = result_summarizer._query_run_start_stop(loglines)
        theirs = result_summarizer._compute_total_power(str(benchmark_dir), result_file, stop - start,
                                                        RULESET)
        assert theirs == pytest.approx(expected_j, rel=1e-9)
        # inside the window itself: the same to the power outside the run (a few per cent here)
        assert window_j == pytest.approx(expected_j, rel=0.05)
        assert window_j != pytest.approx(expected_j, rel=1e-9)


def test_a_missing_node_file_fails_their_check(tmp_path: Path) -> None:
    benchmark_dir, _, _ = _tree(tmp_path, runs=2)
    (benchmark_dir / "power" / "result_1" / "node_1.txt").unlink()
    result_files = sorted(str(p) for p in benchmark_dir.glob("result_*.txt"))
    _, errors = PowerChecker(RULESET).check_power(str(benchmark_dir / "power"), result_files)
    assert errors  # their checker is a real witness: it fails a broken tree


def test_the_window_is_the_jobs_own_run_start_and_run_stop(tmp_path: Path) -> None:
    text = _training_log(tmp_path / "job.txt", RUN_START_MS, RUN_START_MS + 90_500)
    window = training_window(mllog_events("0: " + text.replace("\n", "\n0: ")), "job.txt")
    assert (window.begin_ns, window.end_ns) == (RUN_START_MS * 10**6, (RUN_START_MS + 90_500) * 10**6)
    assert window.result == 90.5 and window.validity == "VALID"
    with pytest.raises(TrainingLogError, match="no ':::MLLOG' run_start"):
        training_window(mllog_events("garbage\n:::MLLOG {not json\n"), "job.txt")
