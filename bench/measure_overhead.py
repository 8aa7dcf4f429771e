"""The cost of measuring: LoadGen throughput of a SUT that keeps every core busy, with and
without ``power-director measure`` measuring it on the same machine (the director and its
meter, a PTDaemon simulator sampling every 100 ms, on the SUT host: the worst case).

The SUT is the CPU SUT with a fixed amount of work per sample (``--products``, one worker per
core, BLAS single-threaded per worker): its throughput follows the CPU it gets, unlike the
paced SUT of the demo (499.90 vs 499.87 QPS, which cannot show contention). Runs alternate in
pairs, the order flipped each pair, so drift falls on both; the figure is the mean paired
difference (with − without, % of without) and its 95 % Student t interval. Target: the
interval lies within ±0.5 %.

    python bench/measure_overhead.py [--pairs N] [--seconds S] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure
from loadgen_bridge.detail_log import DETAIL_LOG, parse_detail_log
from reports.repeat import interval_stats

TARGET_PCT = 0.5
MATRIX_SIZE = 256
PRODUCTS = 2
OVERESTIMATE = 2.0


def sut_argv(seconds: float, workers: int, expected_qps: float, out: Path) -> list[str]:
    return [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
            "--seconds", f"{seconds:g}", "--workers", str(workers), "--products", str(PRODUCTS),
            "--matrix-size", str(MATRIX_SIZE), "--expected-qps", f"{expected_qps:g}", "--out", str(out)]


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}… exited {result.returncode}: {result.stderr.strip()[-300:]}")


def qps(detail_log: Path) -> float:
    result = parse_detail_log(detail_log).result
    if result is None:
        raise SystemExit(f"no result in {detail_log}")
    return float(result)


def bare(seconds: float, workers: int, expected_qps: float, work: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=work))
    _run(sut_argv(seconds, workers, expected_qps, out))
    return qps(out / DETAIL_LOG)


def measured(seconds: float, workers: int, expected_qps: float, work: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=work))
    # Without --out the SUT writes its logs to $POWER_DIRECTOR_LOG_DIR: the session's run directory.
    command = sut_argv(seconds, workers, expected_qps, out)[:-2]
    _run([sys.executable, "-m", "power_director.cli", "measure", "--meter", "sim", "--quiet",
          "--no-estimates", "--out", str(out), "--", *command])
    (session,) = [p for p in out.iterdir() if p.is_dir()]
    return qps(session / "run_1" / DETAIL_LOG)


def measure(pairs: int, seconds: float, workers: int) -> tuple[list[float], list[tuple[float, float]]]:
    """(paired differences %, [(without, with) QPS]) over ``pairs`` interleaved pairs."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # LoadGen's Offline issues expected QPS × duration samples: calibrate it first, and
        # over-estimate (a run faster than its minimum duration is invalid; a slower one is not).
        expected = OVERESTIMATE * bare(1.0, workers, 100.0 * workers, work)
        for k in range(pairs):
            if k % 2 == 0:
                without = bare(seconds, workers, expected, work)
                with_ = measured(seconds, workers, expected, work)
            else:
                with_ = measured(seconds, workers, expected, work)
                without = bare(seconds, workers, expected, work)
            rows.append((without, with_))
            print(f"pair {k + 1}: without {without:.2f} QPS, with {with_:.2f} QPS "
                  f"({100 * (with_ - without) / without:+.2f} %)", file=sys.stderr)
    return [100 * (w - b) / b for b, w in rows], rows


def figure(differences: list[float]) -> Figure:
    stats = interval_stats(differences)
    if stats.ci95 is None or stats.mean is None:
        return Figure("throughput cost of measuring", "needs 2 pairs or more", f"within ±{TARGET_PCT:g} %")
    low, high = stats.ci95
    return Figure(
        f"LoadGen Offline throughput with a session measuring, all cores busy (n={stats.n} pairs)",
        f"{stats.mean:+.2f} % (95 % interval {low:+.2f} … {high:+.2f} %)",
        f"interval within ±{TARGET_PCT:g} %", low >= -TARGET_PCT and high <= TARGET_PCT)


def run(full: bool = False) -> list[Figure]:
    return [figure(measure(10 if full else 4, 10.0 if full else 3.0, os.cpu_count() or 1)[0])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    differences, rows = measure(args.pairs, args.seconds, args.workers)
    print("| pair | without (QPS) | with a session (QPS) | difference |")
    print("|---|---|---|---|")
    for k, ((without, with_), diff) in enumerate(zip(rows, differences, strict=True), 1):
        print(f"| {k} | {without:.2f} | {with_:.2f} | {diff:+.2f} % |")
    result = figure(differences)
    print(f"\n{result.name}: {result.value}; target {result.target}: {result.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
