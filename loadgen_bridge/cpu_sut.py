"""A small CPU-bound system under test driven by the real MLPerf LoadGen, in-process.

Each sample is a few dense matrix products in numpy, so the CPU (and the simulated
wall power that follows CPU utilisation) really rises while LoadGen runs. Usable as
a workload command too: ``python -m loadgen_bridge.cpu_sut --scenario Offline --seconds 10 --out DIR``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")
TOTAL_SAMPLES = 1024
PERFORMANCE_SAMPLES = 256


@dataclass(frozen=True, slots=True)
class CpuBenchmark:
    scenario: str
    duration_s: float
    matrix_size: int = 192
    products_per_sample: int = 2
    workers: int = os.cpu_count() or 1

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; one of {', '.join(SCENARIOS)}")
        if self.duration_s <= 0:
            raise ValueError("the benchmark duration must be positive")


class _MatrixWork:
    """The per-sample work and its measured cost."""

    def __init__(self, size: int, products: int) -> None:
        rng = np.random.default_rng(0)
        self.matrices = rng.standard_normal((8, size, size)).astype(np.float32)
        self.products = products

    def run(self, sample_index: int) -> float:
        a = self.matrices[sample_index % 8]
        for _ in range(self.products):
            a = np.tanh(a @ self.matrices[(sample_index + 1) % 8])
        return float(a[0, 0])

    def seconds_per_sample(self, workers: int, budget_s: float = 0.3) -> float:
        """Wall seconds per sample when ``workers`` threads share the work (after a warm-up)."""
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(self.run, range(4 * workers)))
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < budget_s:
                list(pool.map(self.run, range(count, count + 8 * workers)))
                count += 8 * workers
            return (time.perf_counter() - start) / count


def _settings(lg: Any, bench: CpuBenchmark, per_sample_s: float) -> Any:
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, bench.scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = int(bench.duration_s * 1000)
    settings.min_query_count = 1
    throughput = 1.0 / per_sample_s
    # LoadGen sizes a run from these estimates: a low latency estimate only generates
    # spare queries, while a high one ends the run before its minimum duration.
    latency_ns = max(int(per_sample_s * 1e9 / 2), 1000)
    if bench.scenario == "Offline":
        # Offline's sample count is fixed up front: over-provision so a slow calibration
        # cannot end the run before its minimum duration.
        settings.offline_expected_qps = throughput * 1.5
    elif bench.scenario == "Server":
        settings.server_target_qps = throughput / 2
        settings.server_target_latency_ns = max(latency_ns * 100, 50_000_000)
    elif bench.scenario == "SingleStream":
        settings.single_stream_expected_latency_ns = latency_ns
    else:
        settings.multi_stream_expected_latency_ns = latency_ns * 8
    return settings


def run_cpu_benchmark(bench: CpuBenchmark, out_dir: Path) -> None:
    """Run LoadGen over the CPU SUT; LoadGen writes its logs into ``out_dir``. Blocking."""
    import mlperf_loadgen as lg

    out_dir.mkdir(parents=True, exist_ok=True)
    work = _MatrixWork(bench.matrix_size, bench.products_per_sample)
    pool = ThreadPoolExecutor(bench.workers)
    completed = threading.Lock()

    def process(sample_id: int, sample_index: int) -> None:
        work.run(sample_index)
        with completed:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, 0, 0)])

    def issue_queries(samples: list[Any]) -> None:
        for sample in samples:
            pool.submit(process, sample.id, sample.index)

    sut = lg.ConstructSUT(issue_queries, lambda: None)
    qsl = lg.ConstructQSL(TOTAL_SAMPLES, PERFORMANCE_SAMPLES, lambda _: None, lambda _: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    try:
        settings = _settings(lg, bench, work.seconds_per_sample(bench.workers))
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        pool.shutdown(wait=True)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="Offline")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("POWER_DIRECTOR_LOG_DIR", ".")))
    args = parser.parse_args(argv)
    run_cpu_benchmark(CpuBenchmark(args.scenario, args.seconds), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
