"""Helpers for the remote-SUT tests: a director with a simulated meter, synthetic LoadGen logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TypeVar

from analyzer_drivers.formats.timefmt import format_mlperf_time
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.config.loader import Config, ServiceConfig, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.remote.service import DirectorService

ROOT = Path(__file__).resolve().parents[1]
TOKEN = b"0123456789abcdef-test-token-0123456789"
CLI = [sys.executable, "-u", "-m", "power_director.cli"]
T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]], timeout_s: float = 60) -> T:
    """Run one test's async body with a hard time limit."""
    return asyncio.run(asyncio.wait_for(body(), timeout_s))


def write_token(path: Path, token: bytes = TOKEN) -> Path:
    path.write_bytes(token + b"\n")
    return path


def write_detail_log(log_dir: Path, begin_ns: int, end_ns: int, scenario: str = "Offline") -> None:
    """A minimal LoadGen detail log with this window (what a finished run leaves)."""
    entries = {
        "effective_scenario": scenario,
        "power_begin": format_mlperf_time(begin_ns),
        "power_end": format_mlperf_time(end_ns),
        "result_samples_per_second": 100.0,
        "result_validity": "VALID",
        "result_query_count": 1,
        "effective_min_duration_ms": 100,
    }
    lines = [":::MLLOG " + json.dumps({"key": k, "value": v}) for k, v in entries.items()]
    (log_dir / "mlperf_log_detail.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Director:
    service: DirectorService
    port: int
    out_root: Path
    simulator: PtdSimulator | None = None


@contextlib.asynccontextmanager
async def running_director(
    tmp_path: Path, settle_s: float = 0.05, results_url: str = "", **service: object
) -> AsyncIterator[Director]:
    """A DirectorService on loopback over a 150 W simulated meter sampling every 50 ms
    (``results_url``: the lab's results store, ``[session] results_url``)."""
    simulator = PtdSimulator(model=constant_model(150.0), averaging_ms=50)
    meter_port = await simulator.start_server("127.0.0.1", 0)
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings: dict[str, object] = {"port": 0, "token_file": str(write_token(tmp_path / "token"))}
    settings.update(service)
    config = Config(
        analyzer=PtdConfig(port=meter_port, interval_ms=50, connect_timeout_s=5.0),
        session=SessionConfig(settle_s=settle_s, poll_interval_s=0.1, results_url=results_url),
        service=replace(ServiceConfig(), **settings),  # type: ignore[arg-type]
    ).validate()
    out_root = tmp_path / "director-runs"
    director = DirectorService(config, out_root=out_root, say=lambda _: None)
    port = await director.start()
    try:
        yield Director(director, port, out_root, simulator)
    finally:
        await director.close()
        await simulator.close()


def session_meta(out_root: Path) -> dict[str, object]:
    (only,) = [p for p in out_root.iterdir() if p.is_dir()]
    meta: dict[str, object] = json.loads((only / "session.json").read_text())
    return meta


# --- processes -------------------------------------------------------------------------------
def quiet_env(**extra: str) -> dict[str, str]:
    """Child env: this worktree first; one BLAS thread, so the CPU SUT's timing holds on 2 cores."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def wait_for_line(stream: IO[str], pattern: str, timeout_s: float = 20.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r}; got {''.join(seen)!r}")


@contextlib.contextmanager
def process(args: list[str], **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        args,
        cwd=ROOT,
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )  # type: ignore[call-overload]
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child.stdout:
            child.stdout.close()


@contextlib.contextmanager
def director_processes(
    tmp_path: Path, interval_ms: int = 200
) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    """``sim ptd`` (its load following the machine's CPU, as the e2e test's power-above-idle
    check needs) and ``serve`` as processes; yields the port, out dir and serve process."""
    with process([*CLI, "sim", "ptd", "--port", "0", "--power", "cpu"]) as sim:
        assert sim.stdout is not None
        meter_port = int(wait_for_line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        out_root = tmp_path / "director-runs"
        config = tmp_path / "director.toml"
        config.write_text(
            f"[analyzer]\nport = {meter_port}\ninterval_ms = {interval_ms}\n"
            f'[session]\nout_dir = "{out_root}"\nsettle_s = 0.2\npoll_interval_s = 0.25\n'
            f'[service]\nport = 0\ntoken_file = "{write_token(tmp_path / "token")}"\n'
        )
        with process([*CLI, "serve", "--config", str(config)]) as serve:
            assert serve.stdout is not None
            port = int(wait_for_line(serve.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
            yield port, out_root, serve
