"""Window-edge error on a short SingleStream-like run: 10 s at 1 Hz, power stepping at the edges.

The SUT draws IDLE_W outside LoadGen's window and BUSY_W inside it; an integrating meter
samples every second at a phase offset from power_begin. For each offset, the energy in
the window by MLPerf's method (plain mean of samples strictly inside × duration) and by
the time-weighted method, against the analytic BUSY_W × duration.

    python bench/edge_error.py [--duration-s S] [--interval-ms MS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure
from reports.metrics import weighted_energy

IDLE_W, BUSY_W = 100.0, 300.0
S = 1_000_000_000
BEGIN = 1_800_000_000 * S


def meter_samples(begin: int, end: int, interval_ns: int, phase_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Stamps and readings of an integrating meter: exact mean power over each interval."""
    stamps = np.arange(begin - 3 * interval_ns + phase_ns, end + 3 * interval_ns, interval_ns, dtype=np.int64)
    starts = stamps - interval_ns
    busy_ns = np.clip(np.minimum(stamps, end) - np.maximum(starts, begin), 0, None)
    watts = (BUSY_W * busy_ns + IDLE_W * (interval_ns - busy_ns)) / interval_ns
    return stamps, watts


PHASES = (0.1, 0.25, 0.5, 0.75, 0.9)


def errors(duration_s: float, interval_ms: int) -> list[tuple[float, float, float]]:
    """(meter phase, MLPerf method error, time-weighted error) for each phase."""
    interval_ns = interval_ms * 1_000_000
    end = BEGIN + int(duration_s * S)
    exact_j = BUSY_W * duration_s
    rows = []
    for phase in PHASES:
        stamps, watts = meter_samples(BEGIN, end, interval_ns, int(phase * interval_ns))
        inside = (stamps > BEGIN) & (stamps < end)
        mlperf_j = float(watts[inside].mean()) * duration_s
        weighted_j = weighted_energy(stamps, watts, BEGIN, end, interval_ns).energy_j or 0.0
        rows.append((phase, mlperf_j / exact_j - 1, weighted_j / exact_j - 1))
    return rows


def run(full: bool = False) -> list[Figure]:
    rows = errors(10.0, 1000)
    worst_mlperf, worst_weighted = (max(abs(row[i]) for row in rows) for i in (1, 2))
    return [Figure("edge error, 10 s at 1 Hz, step at the edges, worst phase: MLPerf / time-weighted",
                   f"{worst_mlperf:.2%} / {worst_weighted:.2%}", "reported")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=int, default=1000)
    args = parser.parse_args()
    print("| meter phase | MLPerf method error | time-weighted error |")
    print("|---|---|---|")
    rows = errors(args.duration_s, args.interval_ms)
    for phase, mlperf, weighted in rows:
        print(f"| {phase:.2f} interval | {mlperf:+.2%} | {weighted:+.2%} |")
    print(f"| worst | {max(abs(r[1]) for r in rows):.2%} | {max(abs(r[2]) for r in rows):.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
