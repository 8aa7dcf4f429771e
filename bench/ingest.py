"""Ingest: a director session journals every sample of a fast simulated PTDaemon, and its CPU.

Each case starts ``power-director sim ptd --interval-ms I --channels N`` as its own process
and runs a real ``Session`` here (PtdAnalyzer over loopback, journal, progress observer,
report) with ranging then testing. The workload only sleeps and then leaves a minimal LoadGen
log of its window, so the director's CPU over the testing workload is the ingest's alone (the
simulator's is not counted). Sent is the simulator's count of the testing measurement (its
``Watts`` reply), journaled the lines of ``run_1/spl.txt``; the rate is journaled over the
time their stamps span. Target: ≥ 20,000 samples/s (and 8 channels at 1 kHz) with zero
loss. Each case runs in a fresh process.

    python bench/ingest.py [--full] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer_drivers.formats.ptd_line import parse_sample_line
from analyzer_drivers.formats.session_layout import phase_dir
from analyzer_drivers.formats.timefmt import format_mlperf_time
from analyzer_drivers.meters.ptd import PtdAnalyzer
from bench.common import Figure
from loadgen_bridge.detail_log import DETAIL_LOG
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.observe.progress import ProgressLine
from power_director.session.session import Session

ROOT = Path(__file__).resolve().parents[1]
RANGING_S = 0.5
DEFAULT_S, FULL_S = 8.0, 60.0
#: (sampling interval ms, channels): 20 kHz, 50 kHz for headroom, 8 channels at 1 kHz.
CASES = ((0.05, 1), (0.02, 1), (1.0, 8))
MIB = 2**20


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    wall_s: float
    rss_begin_mib: float
    rss_end_mib: float


@dataclass(frozen=True)
class Row:
    interval_ms: float
    channels: int
    measured_s: float  # the journaled samples' span: last stamp - first stamp + one interval
    sent: int
    journaled: int
    usage: Usage  # the director process over the testing workload (steady ingest)

    @property
    def rate_hz(self) -> float:
        return self.sent / self.measured_s

    @property
    def loss(self) -> int:
        return self.sent - self.journaled

    @property
    def cpu_per_wall(self) -> float:
        return self.usage.cpu_s / self.usage.wall_s

    @property
    def cpu_percent_per_khz(self) -> float:
        """CPU % of one core per 1,000 samples/s."""
        return 100 * self.cpu_per_wall / (self.rate_hz / 1000)

    @property
    def met(self) -> bool:
        return self.loss == 0 and self.rate_hz >= 0.99 * 1000 / self.interval_ms


@dataclass
class IdleWorkload:
    """Sleeps through a phase and leaves a LoadGen detail log of that window; records the
    director process's CPU time and memory over each phase."""

    seconds: dict[str, float]
    usage: dict[str, Usage] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"idle {self.seconds['testing']:g} s"

    async def run(self, phase: str, log_dir: Path) -> None:
        me = psutil.Process()
        begin_ns, cpu, rss = time.time_ns(), me.cpu_times(), me.memory_info().rss
        await asyncio.sleep(self.seconds[phase])
        end_ns, spent = time.time_ns(), me.cpu_times()
        cpu_s = spent.user + spent.system - cpu.user - cpu.system
        self.usage[phase] = Usage(cpu_s, (end_ns - begin_ns) / 1e9, rss / MIB, me.memory_info().rss / MIB)
        write_detail_log(log_dir / DETAIL_LOG, begin_ns, end_ns)


def write_detail_log(path: Path, begin_ns: int, end_ns: int) -> None:
    entries = {
        "effective_scenario": "Offline",
        "power_begin": format_mlperf_time(begin_ns),
        "power_end": format_mlperf_time(end_ns),
        "result_samples_per_second": 1.0,
        "result_validity": "VALID",
        "result_query_count": 1,
    }
    path.write_text("".join(f":::MLLOG {json.dumps({'key': k, 'value': v})}\n" for k, v in entries.items()))


@contextlib.contextmanager
def simulator(interval_ms: float, channels: int) -> Iterator[int]:
    """``power-director sim ptd`` in its own process; yields its port."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-m", "power_director.cli", "sim", "ptd", "--port", "0",
            "--interval-ms", f"{interval_ms:g}", "--channels", str(channels)]
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        match = re.search(r"listening on [\d.]+:(\d+)", child.stdout.readline())
        if match is None:
            raise RuntimeError(f"the simulator did not start: {' '.join(args)}")
        yield int(match.group(1))
    finally:
        child.terminate()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


async def samples_sent(port: int) -> int:
    """The simulator's count of samples in its last measurement (``Watts`` field 5)."""
    meter = PtdAnalyzer("127.0.0.1", port)
    async with meter:
        return int((await meter.command("Watts")).split(",")[4])


async def measure(interval_ms: float, channels: int, seconds: float, out: Path) -> Row:
    workload = IdleWorkload({"ranging": RANGING_S, "testing": seconds})
    with simulator(interval_ms, channels) as port:
        config = Config(PtdConfig(port=port, interval_ms=10), SessionConfig(settle_s=0.0))
        session = Session(config, PtdAnalyzer("127.0.0.1", port), workload, out_root=out,
                          label=f"ingest-{interval_ms:g}ms-{channels}ch", say=lambda _: None,
                          observers=[ProgressLine(io.StringIO())])
        await session.run()
        sent = await samples_sent(port)
    spl = session.dir / phase_dir("testing") / "spl.txt"
    journaled = spl.read_bytes().count(b"\n")
    return Row(interval_ms, channels, span_s(spl, interval_ms), sent, journaled, workload.usage["testing"])


def span_s(spl: Path, interval_ms: float) -> float:
    """The time the samples of a sample file cover, from its first and last lines."""
    with spl.open("rb") as lines:
        first = lines.readline().decode()
        lines.seek(max(0, spl.stat().st_size - 64 * 1024))
        last = lines.read().decode(errors="replace").splitlines()[-1]
    first_ns, last_ns = (parse_sample_line(line)[0].t_ns for line in (first, last))
    return (last_ns - first_ns) / 1e9 + interval_ms / 1000


def case(interval_ms: float, channels: int, seconds: float) -> Row:
    with tempfile.TemporaryDirectory() as out:
        return asyncio.run(measure(interval_ms, channels, seconds, Path(out)))


def measure_cases(duration_s: float) -> list[Row]:
    """One row per case, each in a fresh process (its CPU and memory its own)."""
    rows = []
    for interval_ms, channels in CASES:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
            rows.append(fresh.submit(case, interval_ms, channels, duration_s).result())
    return rows


def markdown(rows: list[Row]) -> str:
    lines = [
        "| rate | channels | measured | sent | journaled | loss | director CPU s/s "
        "| CPU % per 1,000 samples/s | director RSS (testing start → end) | zero loss at rate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.rate_hz:,.0f}/s | {row.channels} | {row.measured_s:.1f} s | {row.sent:,} "
            f"| {row.journaled:,} | {row.loss} | {row.cpu_per_wall:.3f} | {row.cpu_percent_per_khz:.2f} "
            f"| {row.usage.rss_begin_mib:.0f} → {row.usage.rss_end_mib:.0f} MiB "
            f"| {'yes' if row.met else 'NO'} |"
        )
    return "\n".join(lines)


def figures(rows: list[Row]) -> list[Figure]:
    return [
        Figure(
            f"ingest, {row.channels} channel{'s' if row.channels > 1 else ''} at "
            f"{1000 / row.interval_ms:,.0f} samples/s, {row.measured_s:.0f} s",
            f"{row.journaled:,} of {row.sent:,} journaled ({row.loss} lost); director "
            f"{row.cpu_percent_per_khz:.2f} % CPU per 1,000 samples/s, RSS {row.usage.rss_end_mib:.0f} MiB",
            "zero loss" + (" (issue: ≥ 20,000/s)" if row.channels == 1 else ""),
            row.met,
        )
        for row in rows
    ]


def run(full: bool = False) -> list[Figure]:
    """``full``: 60 s testing runs instead of 8 s."""
    return figures(measure_cases(FULL_S if full else DEFAULT_S))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help=f"{FULL_S:g} s testing runs (default {DEFAULT_S:g} s)")
    parser.add_argument("--seconds", type=float, help="testing run length, overriding --full")
    args = parser.parse_args()
    rows = measure_cases(args.seconds or (FULL_S if args.full else DEFAULT_S))
    print(markdown(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
