"""power-dev's own, unmodified client.py (v3) against ``serve``: the files it receives pass
MLCommons' checker. Needs POWER_DEV_DIR (a power-dev checkout) and root (NTP's port 123)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.config.loader import Config, ServiceConfig, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.config.power_dev import apply_power_dev_conf, read_power_dev_conf
from power_director.remote.service import DirectorService
from tests.mlperf_checker import SOURCE_RULES, failed_rules, power_dev_dir
from tests.ntp_server import NTP_PORT, ntp_server
from tests.remote_util import ROOT, quiet_env, run

# Both sessions need UDP port 123: one worker runs them, one after the other.
pytestmark = pytest.mark.xdist_group("ntp-port-123")

#: Stand-ins for the clock setters power-dev's time_sync.set_ntp runs when the NTP offset is
#: over 400 ms: they must never run (our NTP server answers with this clock), and if they do
#: they leave a mark and change nothing.
GUARD = "#!/bin/sh\necho \"$0 $*\" >> \"$(dirname \"$0\")/called\"\nexit 1\n"


def guard_path(tmp_path: Path) -> Path:
    guard = tmp_path / "guard-bin"
    guard.mkdir()
    for name in ("ntpdate", "sudo"):
        (guard / name).write_text(GUARD)
        (guard / name).chmod(0o755)
    return guard


async def drive_client(tmp_path: Path, power_dev: Path, scenario: str, channels: int = 1,
                       server_conf: Path | None = None) -> Path:
    """One session: client.py against serve over a simulated WT310 at 1000 ms (or the PTDaemon
    ``server_conf`` describes, started by the director: ``serve --power-dev-conf``); the client's dir."""
    simulator = PtdSimulator(model=constant_model(150.0), identity="wt310", channels=channels)
    meter_port = await simulator.start_server()
    config = Config(
        analyzer=PtdConfig(port=meter_port, interval_ms=1000, connect_timeout_s=5.0),
        session=SessionConfig(settle_s=0.5, poll_interval_s=0.25),
        service=replace(ServiceConfig(), port=0, v3_allowed_addresses=("127.0.0.1",)),
    ).validate()
    if server_conf is not None:
        config = apply_power_dev_conf(config, read_power_dev_conf(server_conf), service=True)
    director = DirectorService(config, out_root=tmp_path / "director-runs", say=lambda _: None)
    port = await director.start()
    guard = guard_path(tmp_path)
    workload = (f"{sys.executable} -m loadgen_bridge.cpu_sut --scenario {scenario} --seconds 3 "
                f"--out {tmp_path / 'loadgen'}")
    env = quiet_env(PATH=f"{guard}{os.pathsep}{os.environ['PATH']}", PYTHONDONTWRITEBYTECODE="1")
    try:
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-B", str(power_dev / "ptd_client_server" / "client.py"),
            "-a", "127.0.0.1", "-p", str(port), "-n", "127.0.0.1", "-w", workload,
            "-L", str(tmp_path / "loadgen"), "-o", str(tmp_path / "client-out"),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(client.communicate(), 180)
        assert client.returncode == 0, output.decode()[-3000:]
    finally:
        await director.close()
        await simulator.close()
    assert not (guard / "called").exists(), (guard / "called").read_text()
    (session,) = (tmp_path / "client-out").iterdir()
    return session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _needs_ntp_port() -> None:
    if os.geteuid() != 0:
        pytest.skip(f"the NTP server power-dev's client needs listens on UDP {NTP_PORT}: needs root")


@pytest.mark.parametrize(("scenario", "channels"), [("Offline", 1), ("SingleStream", 2)])
def test_power_dev_client_session_passes_the_checker(tmp_path: Path, scenario: str, channels: int) -> None:
    power_dev = power_dev_dir()
    _needs_ntp_port()
    with ntp_server():
        session = run(lambda: drive_client(tmp_path, power_dev, scenario, channels), timeout_s=240)
    assert (session / "run_1" / "ptd_out.txt").read_text().startswith("Analyzer 1:\nPower: Watts,")
    # The client's sources are power-dev's own, so only the server's checksum rule fails.
    assert failed_rules(session) == SOURCE_RULES - {"Check client sources checksum"}


def test_power_dev_client_against_serve_with_power_devs_server_conf(tmp_path: Path) -> None:
    """``serve --power-dev-conf``: power-dev's template filled in for a 2-channel WT330
    multichannel stand-in (device type 77, ``channel: 1,2``); the director starts that PTDaemon
    and power-dev's client gets a session that passes every rule but the server's sources."""
    power_dev = power_dev_dir()
    _needs_ntp_port()
    template = (ROOT / "tests" / "fixtures" / "power-dev" / "server.template.conf").read_text()
    launcher = Path(sys.executable).with_name("power-director-ptd-sim")
    filled = (template.replace(r"ptd: D:\PTD\ptd-windows-x86.exe", f"ptd: {launcher}")
              .replace("# ntpServer: ntp.example.com", "ntpServer: 127.0.0.1")
              .replace("#networkPort: 8888", f"networkPort: {free_port()}")
              .replace("deviceType: 49", "deviceType: 77").replace("#channel: 1,2", "channel: 1,2")
              .replace("# listen: 192.168.1.2 4950", "listen: 127.0.0.1 0"))
    conf = tmp_path / "server.conf"
    conf.write_text(filled)
    with ntp_server():
        session = run(lambda: drive_client(tmp_path, power_dev, "Offline", server_conf=conf), timeout_s=240)
    server = json.loads((session / "power" / "server.json").read_text())
    assert server["ptd_config"][0]["command"][-4:] == ["-c", "1,2", "77", "COM1"]
    assert failed_rules(session) == SOURCE_RULES - {"Check client sources checksum"}
