"""Analysis throughput: parse spl.txt and compute the windowed MLPerf metric.

Baseline: the MLCommons checker's method, line by line (split, strptime per line, Python
sum), restated here. Ours: ``reports.spl.read_spl`` bounded to the window (stamps of every
line, watts of the lines in the window) + ``reports.metrics.mlperf_power``; and the full read
(every column of every line) that ``power-director report`` does. All run in this process on
the same file and must give the same number. Target: ours ≥ 50× faster than the baseline,
memory proportional to the samples in the window.

    python bench/analysis.py [--full]     # 1 M samples; --full adds 10 M
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, all_met, figure_table
from reports.metrics import mlperf_power
from reports.spl import read_spl

FMT = "%m-%d-%Y %H:%M:%S.%f"
T0 = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.timezone.utc)
TARGET_SPEEDUP = 50.0
NARROW_WINDOW_S = 10
OUR_RUNS = 3  # ours: best of 3 (the first pays for mapping the file); the baseline runs once


def write_spl(path: Path, count: int) -> None:
    """A 1 kHz spl.txt of ``count`` samples."""
    rng = np.random.default_rng(0)
    with path.open("w") as out:
        for first in range(0, count, 100_000):
            size = min(100_000, count - first)
            stamps = np.datetime64(T0.replace(tzinfo=None), "ms") + np.arange(first, first + size).astype(
                "timedelta64[ms]")
            text = np.datetime_as_string(stamps, unit="ms")
            watts = rng.uniform(100.0, 300.0, size)
            out.write("".join(
                f"Time,{s[5:7]}-{s[8:10]}-{s[:4]} {s[11:]},Watts,{w:.6f},"
                "Volts,230.000000,Amps,1.000000,PF,0.950000,Mark,bench_testing\n"
                for s, w in zip(text, watts, strict=True)))


def window_text(count: int, first_fraction: float, last_fraction: float) -> tuple[str, str]:
    """LoadGen-style stamps of a window over the file's samples (1 ms apart)."""
    def stamp(fraction: float) -> str:
        return (T0 + dt.timedelta(milliseconds=int(count * fraction))).strftime(FMT)[:-3]

    return stamp(first_fraction), stamp(last_fraction)


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


def _ns(text: str) -> int:
    return int(dt.datetime.strptime(text, FMT).replace(tzinfo=dt.timezone.utc).timestamp() * 1000) * 1_000_000


def ours(path: Path, begin_text: str, end_text: str) -> float:
    """The windowed metric: only the window's samples are parsed beyond their stamps."""
    begin_ns, end_ns = _ns(begin_text), _ns(end_text)
    series = read_spl(path, begin_ns, end_ns, watts_only=True)
    result = mlperf_power(series, begin_ns, end_ns, "Offline", None)
    assert result.avg_watts is not None
    return result.avg_watts


def ours_full_read(path: Path, begin_text: str, end_text: str) -> float:
    """Every column of every line, as ``power-director report`` reads spl.txt."""
    result = mlperf_power(read_spl(path), _ns(begin_text), _ns(end_text), "Offline", None)
    assert result.avg_watts is not None
    return result.avg_watts


def seconds(function: Callable[[Path, str, str], float], *args: object, runs: int = 1) -> tuple[float, float]:
    """The value and the best wall time of ``runs`` runs."""
    best_s = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        value = function(*args)  # type: ignore[arg-type]
        best_s = min(best_s, time.perf_counter() - started)
    return value, best_s


def peak_mib(function: Callable[[Path, str, str], float], *args: object) -> float:
    tracemalloc.start()
    function(*args)  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run(full: bool = False) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in [1_000_000] + ([10_000_000] if full else []):
            path = Path(tmp) / f"spl_{count}.txt"
            write_spl(path, count)
            begin, end = window_text(count, 0.1, 0.9)
            mine, mine_s = seconds(ours, path, begin, end, runs=OUR_RUNS)
            full_value, full_s = seconds(ours_full_read, path, begin, end, runs=OUR_RUNS)
            assert full_value == mine, (full_value, mine)
            label = f"{count // 1_000_000} M samples"
            if count <= 1_000_000:
                reference, base_s = seconds(baseline, path, begin, end)
                assert reference == mine, (reference, mine)
                speedup = base_s / mine_s
                figures.append(Figure(
                    f"analysis, {label}, window 80 %: baseline / ours (best of {OUR_RUNS})",
                    f"{base_s:.2f} s / {mine_s:.3f} s = {speedup:.0f}× "
                    f"({base_s / full_s:.0f}× reading every column)",
                    f"≥ {TARGET_SPEEDUP:g}×", speedup >= TARGET_SPEEDUP))
            figures.append(Figure(
                f"analysis, {label}: ours, window / every column",
                f"{count / mine_s / 1e6:.1f} M / {count / full_s / 1e6:.1f} M samples/s, "
                f"peak {peak_mib(ours, path, begin, end):.0f} MiB"))
            narrow = window_text(count, 0.5, 0.5 + NARROW_WINDOW_S * 1000 / count)
            figures.append(Figure(
                f"analysis, {label}: peak memory, {NARROW_WINDOW_S} s window (10 k samples)",
                f"{peak_mib(ours, path, *narrow):.1f} MiB (file {path.stat().st_size / 2**20:.0f} MiB)",
                "∝ window, not file"))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 10 M samples (ours only)")
    figures = run(parser.parse_args().full)
    print(figure_table(figures))
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
