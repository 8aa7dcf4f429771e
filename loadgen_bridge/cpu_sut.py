"""A small CPU-bound system under test driven by the real MLPerf LoadGen, in-process.

Each sample is a fixed slice of wall time (``sample_ms``) spent on dense matrix products in
numpy, so the CPU (and the simulated wall power that follows CPU utilisation) really rises
while LoadGen runs, and the SUT's latency and throughput are known in advance: LoadGen's
run length does not depend on a calibration that a busy machine would skew. Usable as
a workload command too: ``python -m loadgen_bridge.cpu_sut --scenario Offline --seconds 10 --out DIR``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

SCENARIOS = ("SingleStream", "MultiStream", "Offline", "Server")
TOTAL_SAMPLES = 1024
PERFORMANCE_SAMPLES = 256


@dataclass(frozen=True, slots=True)
class CpuBenchmark:
    scenario: str
    duration_s: float
    sample_ms: float = 2.0
    matrix_size: int = 128
    workers: int = 1
    #: Wait out each sample's slice instead of computing through it, as a host waits on an
    #: accelerator: the demo's throughput then hardly depends on other programs' CPU use.
    accelerator: bool = False
    #: Each sample computes exactly this many products (0: it computes through a fixed time
    #: slice instead). With it, throughput follows the CPU the SUT gets: other programs (a
    #: power measurement) show up in it, as bench/measure_overhead.py needs.
    products_per_sample: int = 0
    expected_qps: float | None = None  # LoadGen's estimate (default: from workers and sample_ms)
    #: Called with a number of queries as LoadGen issues them and as they complete (the
    #: demo's simulated meter follows the queries in flight).
    on_issue: Callable[[int], None] | None = field(default=None, compare=False)
    on_complete: Callable[[int], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; one of {', '.join(SCENARIOS)}")
        if self.duration_s <= 0:
            raise ValueError("the benchmark duration must be positive")


class _MatrixWork:
    """The per-sample work: matrix products until the sample's time slice is spent."""

    def __init__(self, size: int, sample_s: float, *, accelerator: bool = False, products: int = 0) -> None:
        rng = np.random.default_rng(0)
        self.matrices = rng.standard_normal((8, size, size)).astype(np.float32) / np.sqrt(size)
        self.sample_s = sample_s
        self.accelerator = accelerator
        self.products = products
        self._worker = threading.local()

    def _deadline(self, issued_s: float) -> float:
        """The end of this sample's slice: one slice after it was issued or after the previous
        sample's slice ended, whichever is later (a queue served at a fixed rate). A sample
        started late (a busy machine ran the worker late, or descheduled it mid-product) is
        shortened by the delay, so N samples queued back to back take N slices in all."""
        previous = getattr(self._worker, "deadline", 0.0)
        self._worker.deadline = max(issued_s, previous) + self.sample_s
        return float(self._worker.deadline)

    def run(self, sample_index: int, issued_s: float) -> float:
        if self.products:
            return self._fixed(sample_index)
        deadline = self._deadline(issued_s)
        if self.accelerator:
            # A sleeping thread is woken promptly on a busy machine; a computing one gets
            # its share of the CPU and LoadGen's threads wait behind it.
            while (left_s := deadline - time.perf_counter()) > 0:
                time.sleep(left_s)
            return 0.0
        a, b = self.matrices[sample_index % 8], self.matrices[(sample_index + 1) % 8]
        total = 0.0
        while time.perf_counter() < deadline:
            # Always from the originals: chaining products would decay into slow denormals.
            total += float(np.tanh(a @ b)[0, 0])
        return total


    def _fixed(self, sample_index: int) -> float:
        a, b = self.matrices[sample_index % 8], self.matrices[(sample_index + 1) % 8]
        return sum(float(np.tanh(a @ b)[0, 0]) for _ in range(self.products))


def _settings(lg: Any, bench: CpuBenchmark) -> Any:
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, bench.scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = int(bench.duration_s * 1000)
    settings.min_query_count = 1
    latency_ns = int(bench.sample_ms * 1e6)
    throughput = bench.expected_qps or bench.workers * 1000 / bench.sample_ms
    if bench.scenario == "Offline":
        settings.offline_expected_qps = throughput
    elif bench.scenario == "Server":
        settings.server_target_qps = throughput / 2
        settings.server_target_latency_ns = max(latency_ns * 100, 50_000_000)
    elif bench.scenario == "SingleStream":
        # A low latency estimate only makes LoadGen generate spare queries; a high one would
        # end the run before its minimum duration.
        settings.single_stream_expected_latency_ns = latency_ns // 2
    else:
        settings.multi_stream_expected_latency_ns = latency_ns * 8 // (2 * bench.workers)
    return settings


def run_cpu_benchmark(bench: CpuBenchmark, out_dir: Path) -> None:
    """Run LoadGen over the CPU SUT; LoadGen writes its logs into ``out_dir``. Blocking."""
    import mlperf_loadgen as lg

    out_dir.mkdir(parents=True, exist_ok=True)
    work = _MatrixWork(bench.matrix_size, bench.sample_ms / 1000, accelerator=bench.accelerator,
                       products=bench.products_per_sample)
    pool = ThreadPoolExecutor(bench.workers)
    completed = threading.Lock()

    def process(sample_id: int, sample_index: int, issued_s: float) -> None:
        work.run(sample_index, issued_s)
        with completed:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, 0, 0)])
        if bench.on_complete is not None:
            bench.on_complete(1)

    def issue_queries(samples: list[Any]) -> None:
        if bench.on_issue is not None:
            bench.on_issue(len(samples))
        issued_s = time.perf_counter()
        for sample in samples:
            pool.submit(process, sample.id, sample.index, issued_s)

    sut = lg.ConstructSUT(issue_queries, lambda: None)
    qsl = lg.ConstructQSL(TOTAL_SAMPLES, PERFORMANCE_SAMPLES, lambda _: None, lambda _: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False
    try:
        # One BLAS thread per worker: BLAS's own threads fighting the workers for two cores
        # stretched a 2 s Offline run past 30 s.
        with threadpool_limits(limits=1, user_api="blas"):
            lg.StartTestWithLogSettings(sut, qsl, _settings(lg, bench), log_settings)
    finally:
        pool.shutdown(wait=True)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="Offline")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("POWER_DIRECTOR_LOG_DIR", ".")))
    parser.add_argument("--accelerator", action="store_true",
                        help="wait out each query's time instead of computing through it, as a host "
                        "waits on an accelerator (a busy machine then hardly stretches the run)")
    parser.add_argument("--workers", type=int, default=1, help="worker threads (one per core keeps every "
                        "core busy)")
    parser.add_argument("--products", type=int, default=0, metavar="N",
                        help="compute exactly N matrix products per sample (0: a fixed 2 ms slice each)")
    parser.add_argument("--matrix-size", type=int, default=128, help="the products' matrix size")
    parser.add_argument("--expected-qps", type=float, help="LoadGen's throughput estimate (Offline issues "
                        "this × the duration; default: workers × 500)")
    args = parser.parse_args(argv)
    bench = CpuBenchmark(args.scenario, args.seconds, workers=max(1, args.workers),
                         accelerator=args.accelerator, products_per_sample=max(0, args.products),
                         matrix_size=args.matrix_size, expected_qps=args.expected_qps)
    run_cpu_benchmark(bench, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
