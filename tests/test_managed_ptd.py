"""A PTDaemon the director starts itself, as power-dev's server starts it.

The launch line is power-dev's (``ptd_client_server/lib/server.py`` ServerConfig at
c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2): restated here, and compared with what power-dev's
own ServerConfig builds when POWER_DEV_DIR names a checkout. PTDaemon is stood in by
``power-director-ptd-sim``, which takes PTDaemon's command line. A 2-channel WT330
multichannel session (device type 77, ``-c 1,2``) passes every rule of MLCommons' checker but
the source checksums: restated always, the checker itself when POWER_DEV_DIR is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.session_layout import read_session_meta
from analyzer_drivers.meters.ptd_launch import PtdLaunch, read_command
from analyzer_drivers.meters.ptd_managed import ManagedPtdAnalyzer
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, ConfigError, SessionConfig, config_from_dict
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import Session
from tests import mlperf_rules
from tests.mlperf_checker import SOURCE_RULES, failed_rules, power_dev_dir

LAUNCHER = str(Path(sys.executable).with_name("power-director-ptd-sim"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_launch_line_is_power_devs() -> None:
    """Restated from ServerConfig: -l, -p, [-b], [-c], [dcFlag], [interfaceFlag], type, port."""
    launch = PtdLaunch("/opt/ptd", 77, "C2PH13047V", "-y", 8890, (1, 2), 0, None)
    assert launch.command("/tmp/log") == ["/opt/ptd", "-l", "/tmp/log", "-p", "8890", "-b", "0", "-c", "1,2",
                                          "-y", "77", "C2PH13047V"]
    assert read_command(launch.command("/tmp/log")) == (launch, "/tmp/log")
    rs232 = PtdLaunch("ptd", 49, "COM1")  # the template's example: empty interfaceFlag
    assert rs232.command("L") == ["ptd", "-l", "L", "-p", "8888", "49", "COM1"]
    assert rs232.ptd_config("L") == {
        "command": ["ptd", "-l", "L", "-p", "8888", "49", "COM1"], "device_type": 49,
        "interface_flag": "", "dc_flag": None, "device_port": "COM1", "channel": None}


def test_power_devs_own_server_config_builds_the_same_line(tmp_path: Path) -> None:
    """power-dev's ServerConfig, unmodified, on a server.conf: its ptd_summary is ours."""
    power_dev = power_dev_dir()
    conf = tmp_path / "server.conf"
    conf.write_text("[server]\nntpServer: 127.0.0.1\nlisten: 127.0.0.1 4999\n[ptd]\nptd: /opt/ptd\n"
                    "[analyzer1]\ndeviceType: 77\ninterfaceFlag: -y\ndevicePort: C2PH13047V\n"
                    f"networkPort: {free_port()}\nchannel: 1,2\ngpibBoard: 0\n")
    program = ("import json, sys; from ptd_client_server.lib import server; "
               "c = server.ServerConfig(sys.argv[1]); print(json.dumps(c.ptd_summary[0]))")
    done = subprocess.run([sys.executable, "-B", "-c", program, str(conf)], cwd=power_dev,
                          capture_output=True, text=True, timeout=60, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    launch, log_path = read_command(theirs["command"])
    assert launch.ptd_config(log_path) == theirs


def managed_session(out: Path, extra_keys: dict[str, object], kill: Callable[[int], None] | None = None,
                    scenario: str = "Offline") -> Path:
    table: dict[str, object] = {"type": "ptd", "interval_ms": 1000, "ptd_path": LAUNCHER, "port": free_port(),
                                "connect_timeout_s": 20.0, **extra_keys}
    config = config_from_dict({"analyzer": table, "session": {"settle_s": 0.1}})
    launch, _ = config.analyzer.managed_launch() or (None, "")
    assert launch is not None
    analyzer = ManagedPtdAnalyzer(launch, log_dir=out / "ptd", connect_timeout_s=20.0)

    async def main() -> Path:
        session = Session(config, analyzer, InProcessLoadgen(CpuBenchmark(scenario, 3.0, accelerator=True)),
                          out_root=out, label="managed", say=lambda _: None)
        killer = asyncio.ensure_future(_kill_in_testing(session, analyzer, kill)) if kill else None
        try:
            await session.run()
        finally:
            if killer is not None:
                killer.cancel()
        return session.dir

    session_dir = asyncio.run(main())
    assert analyzer.pid is None  # stopped at the end
    return session_dir


async def _kill_in_testing(
    session: Session, analyzer: ManagedPtdAnalyzer, kill: Callable[[int], None]
) -> None:
    while "testing" not in session.meta.phases or session.primary.tally.count < 2:
        await asyncio.sleep(0.05)
    assert analyzer.pid is not None
    kill(analyzer.pid)


@pytest.fixture(scope="module")
def multichannel_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wt330_multichannel = {"device_type": 77, "device_port": "C2XL24034V", "interface_flag": "-y",
                          "ptd_channel": "1,2"}
    return managed_session(tmp_path_factory.mktemp("wt330mc"), wt330_multichannel)


def test_ptd_config_records_the_launch(multichannel_session: Path) -> None:
    server = json.loads((multichannel_session / "power" / "server.json").read_text())
    (entry,) = server["ptd_config"]
    assert entry["device_type"] == 77 and entry["channel"] == [1, 2]
    assert entry["command"][0] == LAUNCHER
    assert entry["command"][-5:] == ["-c", "1,2", "-y", "77", "C2XL24034V"]
    identify = next(m["reply"] for m in server["ptd_messages"] if m["cmd"] == "Identify")
    assert identify.startswith("YokogawaWT330_multichannel,") and ",mode=power,1,1,2," in identify
    console = (multichannel_session.parent / "ptd" / "ptd_console.txt").read_text()
    assert "Uncertainty checking for YokogawaWT330_multichannel is activated" in console


@pytest.mark.parametrize("rule", sorted(mlperf_rules.RULES))
def test_multichannel_session_passes_restated_rule(multichannel_session: Path, rule: str) -> None:
    mlperf_rules.RULES[rule](multichannel_session)


def test_multichannel_session_passes_mlcommons_checker(multichannel_session: Path) -> None:
    assert failed_rules(multichannel_session) == SOURCE_RULES


def test_a_crashed_daemon_is_started_again(tmp_path: Path) -> None:
    """SIGKILL mid-testing: the director starts PTDaemon again within the reconnect budget,
    the gap is recorded, the session completes, and the daemon is stopped at the end."""
    session = managed_session(tmp_path, {"device_type": 49, "device_port": "COM1"},
                              kill=lambda pid: os.kill(pid, signal.SIGKILL))
    meta = read_session_meta(session)
    assert meta.status == "completed"
    assert len(meta.reconnects) == 1
    console = (tmp_path / "ptd" / "ptd_console.txt").read_text()
    assert console.count("PTDaemon simulator listening on") == 2


def test_bad_launch_settings_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="channel must be two numbers for the multichannel device type 77"):
        config_from_dict({"analyzer": {"ptd_path": LAUNCHER, "device_type": 77, "device_port": "X"}})
    with pytest.raises(ConfigError, match="give ptd_command or ptd_path"):
        config_from_dict({"analyzer": {"ptd_path": "a", "ptd_command": ["a", "49", "COM1"]}})
    with pytest.raises(ConfigError, match="ends with <deviceType> <devicePort>"):
        config_from_dict({"analyzer": {"ptd_command": ["ptd", "-p", "8888"]}})
    with pytest.raises(ConfigError, match="is not a key of type 'yokogawa'"):
        config_from_dict({"analyzer": {"type": "yokogawa", "resource": "GPIB::1::INSTR", "device_type": 49}})


def test_an_occupied_port_or_a_dying_daemon_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            busy = ManagedPtdAnalyzer(PtdLaunch(LAUNCHER, 49, "COM1", network_port=port), log_dir=tmp_path)
            with pytest.raises(AnalyzerError, match=f"port {port} is already occupied"):
                await busy.connect()
        wt500 = PtdLaunch(LAUNCHER, 35, "COM1", network_port=free_port())
        dying = ManagedPtdAnalyzer(wt500, log_dir=tmp_path)
        with pytest.raises(AnalyzerError, match=r"exited with status 2 on start: .*type 35 is not simulated"):
            await dying.connect()

    asyncio.run(main())


def test_config_with_ptd_command(tmp_path: Path) -> None:
    """An explicit launch line: the director uses its -p and -l, in power-dev's order."""
    log = str(tmp_path / "mine.log")
    command = [LAUNCHER, "-p", "9123", "-l", log, "52", "COM3"]
    config = config_from_dict({"analyzer": {"ptd_command": command}})
    analyzer = config.analyzer
    launch, log_path = analyzer.managed_launch() or (None, "")
    assert launch is not None and log_path == log and launch.network_port == 9123
    assert PtdConfig(ptd_path="x", device_port="COM1", device_type=49).managed_launch() is not None
    assert Config(PtdConfig(), SessionConfig()).analyzer.managed_launch() is None


def test_the_daemon_and_its_temporary_logs_go_with_the_session() -> None:
    """As power-dev's server (a TemporaryDirectory for PTDaemon's log): ours is removed when
    the daemon is stopped, unless a log_dir was given."""
    async def main() -> None:
        analyzer = ManagedPtdAnalyzer(PtdLaunch(LAUNCHER, 49, "COM1", network_port=free_port()))
        async with analyzer:
            assert (analyzer.log_dir / "ptd_console.txt").is_file() and analyzer.pid is not None
            assert (await analyzer.identify()).extra.keys() == {"ptd_config"}
        assert not analyzer.log_dir.exists() and analyzer.pid is None

    asyncio.run(main())
