"""Datacenter meters from the command line: the examples run against the emulators, the
configuration refuses what is unsafe or wrong, and the pre-run advice says what a meter can do."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import psutil
import pytest

from power_director.config.loader import ConfigError, config_from_dict
from reports.advice import advise, facts_for
from tests.conftest import CLI, run_cli
from tests.test_cli import one_line_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WORKLOAD = [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "2",
            "--accelerator"]


def _free_port(kind: int = 1) -> int:
    import socket

    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sim(*args: str) -> Generator[subprocess.Popen[str], None, None]:
    process = subprocess.Popen([*CLI, "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    line = process.stdout.readline()
    while "emulator on" not in line and time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
    assert "emulator on" in line, line
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def redfish_sim() -> Iterator[int]:
    port = _free_port()
    yield from (port for _ in start_sim("redfish", "--port", str(port), "--update-s", "0.5",
                                                   "--dynamic-watts", "0"))


@pytest.fixture
def snmp_sim() -> Iterator[int]:
    if shutil.which("snmpsimd") is None:
        pytest.skip("snmpsim not installed")
    port = _free_port(2)
    yield from (port for _ in start_sim("snmp", "--port", str(port), "--amplitude-watts", "1"))


@pytest.mark.parametrize("simulator", ["redfish", "snmp"])
def test_sim_stops_its_emulator_process_on_sigterm(simulator: str) -> None:
    """The emulator runs as a child (sushy-static, snmpsimd): SIGTERM to ``sim`` stops it too and
    exits as every other ``sim`` does (130, one line)."""
    if simulator == "snmp" and shutil.which("snmpsimd") is None:
        pytest.skip("snmpsim not installed")
    port = _free_port(2 if simulator == "snmp" else 1)
    with contextlib.ExitStack() as stack:
        sim = next(stack.enter_context(contextlib.closing(start_sim(simulator, "--port", str(port)))))
        children = psutil.Process(sim.pid).children(recursive=True)
        assert children, "the emulator's process"
        sim.send_signal(signal.SIGTERM)
        output, _ = sim.communicate(timeout=60)
    assert sim.returncode == 130, output
    assert output.splitlines()[-1] == "power-director: sim stopped by SIGTERM"
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive


def test_sim_redfish_on_a_port_another_program_listens_on_is_one_line() -> None:
    """Else sushy-static fails to bind it and the other program answers for the BMC."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("sim", "redfish", "--port", str(port), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1 is taken" in one_line_error(result)


def _example(name: str, tmp_path: Path, port: int) -> Path:
    text = (EXAMPLES / name).read_text()
    text = re.sub(r"127\.0\.0\.1:8000", f"127.0.0.1:{port}", text)
    text = re.sub(r"^port = 1161", f"port = {port}", text, flags=re.M)
    # the pause after a range change (1 s as shipped) is no part of what these tests check
    text = re.sub(r"^settle_s = [0-9.]+", "settle_s = 0.2", text, flags=re.M)
    config = tmp_path / name
    config.write_text(text)
    return config


def _run_example(name: str, tmp_path: Path, port: int) -> dict[str, object]:
    config = _example(name, tmp_path, port)
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--json", "--",
                     *WORKLOAD, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_redfish_example_measures_valid_for_comparison_not_mlperf(tmp_path: Path, redfish_sim: int) -> None:
    report = _run_example("redfish.toml", tmp_path, redfish_sim)
    assert report["valid"] is True and report["mlperf_valid"] is False
    reason = "Redfish PowerDirector EmulatedBMC (redfish) is not a SPEC-accepted analyzer"
    assert report["grade"] == {"label": "informative", "reason": reason}
    assert any("informative" in w and "not MLPerf-valid" in w for w in report["warnings"])  # type: ignore[attr-defined]


def test_snmp_example_measures_valid_for_comparison_not_mlperf(tmp_path: Path, snmp_sim: int) -> None:
    report = _run_example("snmp-pdu.toml", tmp_path, snmp_sim)
    assert report["valid"] is True and report["mlperf_valid"] is False
    assert 230 < report["power"]["avg_watts"] < 250  # type: ignore[index]  # two outlets of 120 ± 1 W
    assert report["analyzer"]["averaging_ms"] == 1000  # type: ignore[index]  # Raritan measurementPeriod


def test_advise_asks_the_meter(tmp_path: Path, redfish_sim: int) -> None:
    config = _example("redfish.toml", tmp_path, redfish_sim)
    strict = run_cli("advise", "--config", str(config), "--watts", "300", "--target-pct", "1")
    assert strict.returncode == 1 and "stated accuracy ±2 %" in strict.stdout  # the sensor's Accuracy
    loose = run_cli("advise", "--config", str(config), "--watts", "300", "--target-pct", "3")
    assert loose.returncode == 0 and "meets ±3 %" in loose.stdout


def test_advice_terms() -> None:
    bmc = facts_for("redfish", averaging_s=60.0, interval_s=1.0, accuracy=None)
    unknown = advise(bmc, 300.0, 600.0, 0.01)
    assert unknown.can_meet is None and any("beside a certified analyzer" in line for line in unknown.lines)
    assert unknown.terms["averaging_edges"] == pytest.approx(0.1)  # a 1-minute average on a 10-minute run
    plug = advise(facts_for("tasmota", 0.0, 1.0), 50.0, 600.0, 0.01)
    assert plug.can_meet is False and plug.terms["accuracy"] == 0.02
    pdu = advise(facts_for("snmp", 1.0, 1.0, accuracy=0.005, outlets=2), 400.0, 600.0, 0.01)
    # accuracy and the 1 s averaging at the edges of a 600 s run; 2 whole-watt outlets add ~0.007 %
    assert pdu.can_meet is True and pdu.relative == pytest.approx(math.hypot(0.005, 1 / 600), rel=0.01)
    assert advise(facts_for("rapl", 0, 1), 100, 600, 0.01).can_meet is False
    assert advise(facts_for("ptd", 0, 1), 100, 600, 0.01).can_meet is True


BAD_CONFIGS = [
    ({"type": "redfish", "url": "http://bmc", "username": "u", "password_file": "p"}, "plain http"),
    ({"type": "redfish", "url": "https://bmc", "auth": "none"}, "ca_file"),
    ({"type": "redfish", "url": "ftp://bmc", "auth": "none"}, "needs url"),
    ({"type": "redfish", "url": "https://bmc", "insecure": True}, "username and password_file"),
    ({"type": "snmp", "outlets": ["1.1"]}, "port"),
    ({"type": "snmp", "port": 161, "snmp_family": "apc", "snmp_source": "inlet"}, "device, phase, outlet"),
    ({"type": "snmp", "port": 161, "snmp_source": "outlet", "outlets": ["1.1"]}, "one or the other"),
    ({"type": "snmp", "port": 161, "outlets": ["1.x"]}, "numbers joined by dots"),
    ({"type": "snmp", "port": 161, "outlets": ["1"], "snmp_version": "3"}, "authPriv"),
    ({"type": "snmp", "port": 161, "inlets": ["1.1"], "snmp_family": "apc"}, "no inlets"),
]


@pytest.mark.parametrize(("analyzer", "message"), BAD_CONFIGS)
def test_bad_datacenter_configs_are_refused(analyzer: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"analyzer": analyzer})


def test_bad_calibration_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text(json.dumps({"meter": "redfish-other", "offset_watts": 1, "gain": 1, "from_session": "s"}))
    config = tmp_path / "c.toml"
    config.write_text(f'[analyzer]\ntype = "redfish"\nurl = "http://127.0.0.1:9"\nauth = "none"\n'
                      f'calibration_file = "{bad}"\n')
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path), "--", *WORKLOAD)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "is for redfish-other, not redfish-127.0.0.1-9" in result.stderr
