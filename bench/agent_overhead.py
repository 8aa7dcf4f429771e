"""SUT overhead: CPU and memory of the SUT agent during a remote session. Target: < 1 % of one core.

Starts ``power-director sim ptd`` and ``power-director serve`` (the director, 1 s sampling) as
processes on loopback, then ``power-director sut-agent -- python -m loadgen_bridge.cpu_sut`` (a real
LoadGen Offline run per phase). Samples the agent's own process with psutil every 0.1 s: its
CPU time (without its workload children) and RSS. "During the session" runs from the agent's
``session ... opened`` line to its result's ``files:`` line (both phases, log upload, session
download); start-up (interpreter, imports, connecting) and exit (interpreter teardown) are fixed
costs, shown apart and in the whole-process average. The workload's CPU (the agent's reaped
children) is for context.

    python bench/agent_overhead.py [--full] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-u", "-m", "power_director.cli"]
TARGET_PERCENT = 1.0
DEFAULT_S, FULL_S = 10.0, 60.0
SAMPLE_PERIOD_S = 0.1
START_TIMEOUT_S = 30.0
TOKEN = "agent-overhead-bench-token-0123456789abcdef"
MIB = 2**20


@dataclass(frozen=True)
class Span:
    wall_s: float
    cpu_s: float  # the agent's own

    @property
    def percent(self) -> float:
        """% of one core."""
        return 100 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class Row:
    workload_s: float  # LoadGen's minimum duration per phase
    startup: Span  # process start to 'session opened'
    session: Span  # 'session opened' to the result's 'files:' line
    whole: Span  # process start to exit
    peak_rss_mib: float
    workload_cpu_s: float  # the agent's workload children, both phases

    @property
    def percent(self) -> float:
        """The agent's CPU during the session, % of one core."""
        return self.session.percent

    @property
    def met(self) -> bool:
        return self.percent < TARGET_PERCENT


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@contextlib.contextmanager
def process(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def port_from(stream: IO[str] | None) -> int:
    assert stream is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and (line := stream.readline()):
        if match := re.search(r"listening on [\d.]+:(\d+)", line):
            return int(match.group(1))
    raise RuntimeError("a process did not say where it listens")


def own_cpu_s(times: psutil._common.pcputimes) -> float:
    return float(times.user + times.system)


def watch_lines(stream: IO[str] | None, marks: dict[str, threading.Event]) -> threading.Thread:
    """Set each event when a line matches its pattern; keep draining the pipe so the agent
    never blocks on it."""

    def read() -> None:
        assert stream is not None
        for line in stream:
            for pattern, seen in marks.items():
                if re.search(pattern, line):
                    seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def profile_agent(agent: subprocess.Popen[str], workload_s: float) -> Row:
    """Sample the agent until it exits."""
    me = psutil.Process(agent.pid)
    opened, done = threading.Event(), threading.Event()
    reader = watch_lines(agent.stdout, {r"agent: session .* opened": opened, r"^\s*files: ": done})
    started = time.monotonic()
    at: dict[threading.Event, tuple[float, float]] = {}  # when each line was first seen: wall, CPU
    last = (started, 0.0, 0.0)  # wall, own CPU, children's CPU
    peak_rss = 0
    while agent.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times, rss = me.cpu_times(), me.memory_info().rss
            last = (time.monotonic(), own_cpu_s(times), float(times.children_user + times.children_system))
            peak_rss = max(peak_rss, rss)
            for seen in (opened, done):
                if seen.is_set():
                    at.setdefault(seen, last[:2])
        time.sleep(SAMPLE_PERIOD_S)
    reader.join(5)
    for seen in (opened, done):  # a line read after the last sample: the agent's last figures
        if seen.is_set():
            at.setdefault(seen, last[:2])
    if len(at) < 2 or agent.returncode not in (0, 1):  # 1: a short run is not MLPerf-valid
        raise RuntimeError(f"the agent failed (exit {agent.returncode})")
    (open_s, open_cpu_s), (done_s, done_cpu_s) = at[opened], at[done]
    return Row(workload_s, Span(open_s - started, open_cpu_s),
               Span(done_s - open_s, done_cpu_s - open_cpu_s), Span(last[0] - started, last[1]),
               peak_rss / MIB, last[2])


def measure(workload_s: float) -> list[Row]:
    """One row: a ranging + testing remote session of LoadGen Offline, ``workload_s`` per phase."""
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        token = tmp / "token"
        token.write_text(TOKEN + "\n")
        with process([*CLI, "sim", "ptd", "--port", "0"]) as sim:
            config = tmp / "director.toml"
            config.write_text(
                f"[analyzer]\nport = {port_from(sim.stdout)}\ninterval_ms = 1000\n"
                f'[session]\nout_dir = "{tmp / "director-runs"}"\n'
                f'[service]\nport = 0\ntoken_file = "{token}"\n'
            )
            with process([*CLI, "serve", "--config", str(config)]) as serve:
                director = f"127.0.0.1:{port_from(serve.stdout)}"
                workload = [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                            "--seconds", f"{workload_s:g}"]
                with process([*CLI, "sut-agent", "--director", director, "--token-file", str(token),
                              "--label", "overhead", "--out", str(tmp / "agent-runs"), "--",
                              *workload]) as agent:
                    return [profile_agent(agent, workload_s)]


def markdown(rows: list[Row]) -> str:
    lines = [
        "| LoadGen per phase | agent CPU during the session | of one core | target "
        "| whole process (start-up + session + exit) | peak RSS | workload CPU (context) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.workload_s:g} s | {row.session.cpu_s:.2f} s over {row.session.wall_s:.1f} s "
            f"| **{row.percent:.2f} %** | < {TARGET_PERCENT:g} % {'met' if row.met else '— NOT MET'} "
            f"| {row.whole.cpu_s:.2f} s over {row.whole.wall_s:.1f} s = {row.whole.percent:.2f} % "
            f"(start-up {row.startup.cpu_s:.2f} s) | {row.peak_rss_mib:.0f} MiB "
            f"| {row.workload_cpu_s:.1f} s |"
        )
    return "\n".join(lines)


def figures(rows: list[Row]) -> list[Figure]:
    return [
        Figure(
            f"SUT agent's own CPU during a remote session, LoadGen {row.workload_s:g} s per phase",
            f"{row.percent:.2f} % of one core; whole process {row.whole.percent:.2f} % "
            f"({row.startup.cpu_s:.2f} s CPU of start-up); peak RSS {row.peak_rss_mib:.0f} MiB",
            f"< {TARGET_PERCENT:g} % of one core",
            row.met,
        )
        for row in rows
    ]


def run(full: bool = False) -> list[Figure]:
    """``full``: 60 s LoadGen runs per phase instead of 10 s."""
    return figures(measure(FULL_S if full else DEFAULT_S))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help=f"{FULL_S:g} s LoadGen runs per phase (default {DEFAULT_S:g} s)")
    parser.add_argument("--seconds", type=float, help="LoadGen run per phase, overriding --full")
    args = parser.parse_args()
    rows = measure(args.seconds or (FULL_S if args.full else DEFAULT_S))
    print(markdown(rows))
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
