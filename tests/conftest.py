"""Shared fixtures and helpers: a real LoadGen run, one demo run reused by several tests, a real
mosquitto broker, a loopback WT300 meter; the ``slow`` marker; how the suite is spread over
pytest-xdist's workers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.scpi_server import Wt300Simulator
from loadgen_bridge.cpu_sut import CpuBenchmark, run_cpu_benchmark
from tests.mqtt_broker import Mosquitto

T = TypeVar("T")

CLI = [sys.executable, "-m", "power_director.cli"]

# The modules that take longest (wall time on 2 cores), first: under pytest-xdist a worker takes
# each at the start instead of one being left to run alone after the rest. Any order is correct.
SLOW_FIRST = ("test_fault_matrix.py", "test_crossval.py", "test_snmp.py", "test_redfish.py",
              "test_mlcommons_layout.py", "test_lab.py", "test_fleet_rack.py", "test_results_postgres.py")


def _xdist_group(item: pytest.Item) -> str | None:
    """The group a test shares a worker with: the tests of a fixture of ours that is built once per
    session (the demo runs once, not once per worker), or of a module with a module-scoped fixture;
    None for a test that can run anywhere."""
    info = getattr(item, "_fixtureinfo", None)
    defs = [d for ds in (info.name2fixturedefs.values() if info else ()) for d in ds]
    ours = [d for d in defs if getattr(d.func, "__module__", "").startswith("tests.")]
    shared = sorted(d.argname for d in ours if d.scope == "session")
    if shared:
        return str(shared[0])
    return item.path.name if any(d.scope in ("package", "module", "class") for d in ours) else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for ``--dist loadgroup`` (see _xdist_group; without it they do nothing), and the
    slowest modules first."""
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: modules stay in order


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def loadgen_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Detail logs written by the real LoadGen, one directory per scenario."""
    root = tmp_path_factory.mktemp("loadgen")
    dirs = {}
    for scenario in ("SingleStream", "Offline"):
        run_cpu_benchmark(CpuBenchmark(scenario, 1.0, accelerator=True), root / scenario)
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


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real mosquitto on a free loopback port, shared by one module's tests (a module that
    uses it skips itself when mosquitto is missing: ``tests.mqtt_broker.MISSING_REASON``)."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mqtt")).start()
    yield mosquitto
    mosquitto.stop()


#: pyvisa-sim's description of the WT300 family (analyzer_drivers/sim/wt300_yaml.py writes it).
WT300_YAML = Path(__file__).resolve().parent.parent / "analyzer_drivers" / "sim" / "wt310.yaml"


def socket_resource(port: int) -> str:
    """The VISA resource of a loopback SCPI server, as pyvisa-py opens it."""
    return f"TCPIP::127.0.0.1::{port}::SOCKET"


def with_meter(body: Callable[[Wt300Simulator, int], Awaitable[T]], identity: str = "wt310",
               watts: float = 150.0, update_interval_s: float = 0.5, compat_mode: str | None = None) -> T:
    """Run ``body(simulator, port)`` against a loopback WT300 SCPI simulator (constant ``watts``
    at 230 V) and close the simulator whatever happens."""
    async def main() -> T:
        simulator = Wt300Simulator(constant_model(watts, volts=230.0), identity,
                                   update_interval_s=update_interval_s, compat_mode=compat_mode)
        port = await simulator.start_server()
        try:
            return await asyncio.wait_for(body(simulator, port), 60)
        finally:
            await simulator.close()

    return asyncio.run(main())
