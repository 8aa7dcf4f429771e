"""Shared fixtures: a real LoadGen run, and one demo run reused by several tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadgen_bridge.cpu_sut import CpuBenchmark, run_cpu_benchmark

CLI = [sys.executable, "-m", "power_director.cli"]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def loadgen_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Detail logs written by the real LoadGen, one directory per scenario."""
    root = tmp_path_factory.mktemp("loadgen")
    dirs = {}
    for scenario in ("SingleStream", "Offline"):
        run_cpu_benchmark(CpuBenchmark(scenario, 1.0), root / scenario)
        dirs[scenario] = root / scenario
    return dirs


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``power-director demo`` run once as a user would; its output and session root."""
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--out", str(out), "--seconds", "2")
    return result, out


def session_dirs(root: Path) -> dict[str, Path]:
    """Session directories under ``root`` by label suffix (e.g. 'demo-offline')."""
    return {p.name.split("_", 2)[2]: p for p in sorted(root.iterdir()) if p.is_dir()}
