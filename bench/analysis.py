"""Analysis throughput: parse spl.txt and compute the windowed MLPerf metric.

Baseline: the MLCommons checker's method, line by line (split, strptime per line, Python
sum). Ours: ``reports.spl.read_spl`` + ``reports.metrics.mlperf_power``. Both run in this
process on the same file; both must give the same number. Target: ours ≥ 50× faster.

    python bench/analysis.py [--full]     # 1 M samples; --full adds 10 M
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.metrics import mlperf_power
from reports.spl import read_spl

FMT = "%m-%d-%Y %H:%M:%S.%f"
T0 = dt.datetime(2026, 11, 23, 10, 0, 0)
TARGET_SPEEDUP = 50.0


def write_spl(path: Path, count: int) -> tuple[str, str]:
    """A 1 kHz spl.txt of ``count`` samples; the window is its middle 80 %."""
    rng = np.random.default_rng(0)
    watts = rng.uniform(100.0, 300.0, count)
    stamps = np.datetime64(T0, "ms") + np.arange(count).astype("timedelta64[ms]")
    text = np.datetime_as_string(stamps, unit="ms")
    with path.open("w") as out:
        for stamp, w in zip(text, watts, strict=True):
            out.write(f"Time,{stamp[5:7]}-{stamp[8:10]}-{stamp[:4]} {stamp[11:]},Watts,{w:.6f},"
                      "Volts,230.000000,Amps,1.000000,PF,0.950000,Mark,bench_testing\n")
    begin = (T0 + dt.timedelta(milliseconds=count // 10)).strftime(FMT)[:-3]
    end = (T0 + dt.timedelta(milliseconds=count * 9 // 10)).strftime(FMT)[:-3]
    return begin, end


def baseline(path: Path, begin_text: str, end_text: str) -> float:
    begin, end = dt.datetime.strptime(begin_text, FMT), dt.datetime.strptime(end_text, FMT)
    watts = []
    with path.open() as lines:
        for line in lines:
            if not line.startswith("Time"):
                continue
            stamp = dt.datetime.strptime(line.split(",")[1], FMT)
            if begin < stamp < end:
                value = float(line.split(",")[3])
                if value > 0:
                    watts.append(value)
    return sum(watts) / len(watts)


def ours(path: Path, begin_text: str, end_text: str) -> float:
    begin = dt.datetime.strptime(begin_text, FMT).replace(tzinfo=dt.timezone.utc)
    end = dt.datetime.strptime(end_text, FMT).replace(tzinfo=dt.timezone.utc)
    result = mlperf_power(read_spl(path), int(begin.timestamp() * 1000) * 1_000_000,
                          int(end.timestamp() * 1000) * 1_000_000, "Offline", None)
    assert result.avg_watts is not None
    return result.avg_watts


def timed(function, *args):  # type: ignore[no-untyped-def]
    """(value, seconds) of a plain run, then the peak traced memory of a second run."""
    started = time.perf_counter()
    value = function(*args)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    function(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, elapsed, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 10 M samples (ours only)")
    args = parser.parse_args()
    print("| samples | baseline | ours | speed-up (target ≥ 50×) | ours samples/s | ours peak memory |")
    print("|---|---|---|---|---|---|")
    met = True
    with tempfile.TemporaryDirectory() as tmp:
        for count in [1_000_000] + ([10_000_000] if args.full else []):
            path = Path(tmp) / f"spl_{count}.txt"
            begin, end = write_spl(path, count)
            mine, mine_s, mine_peak = timed(ours, path, begin, end)
            if count <= 1_000_000:
                started = time.perf_counter()
                reference = baseline(path, begin, end)
                base_s = time.perf_counter() - started
                assert reference == mine, (reference, mine)
                speedup = base_s / mine_s
                met &= speedup >= TARGET_SPEEDUP
                base_text, speed_text = f"{base_s:.2f} s", f"{speedup:.1f}×"
            else:
                base_text, speed_text = "—", "—"
            print(f"| {count:,} | {base_text} | {mine_s:.2f} s | {speed_text} | {count / mine_s:,.0f} "
                  f"| {mine_peak / 2**20:,.0f} MiB |")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
