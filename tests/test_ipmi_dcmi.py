"""The IPMI DCMI meter: real outputs of ipmitool and FreeIPMI's ipmi-dcmi, quoted from public
sources (tests/fixtures/ipmi_dcmi/README.md), parsed and replayed in whole sessions.

No BMC emulator that answers DCMI Get Power Reading is available here (ipmitool's and FreeIPMI's
packages bring none; OpenIPMI's ipmi_sim is not packaged with DCMI power), so a session runs the
driver against a fixture-replaying executable named ``ipmitool`` / ``ipmi-dcmi`` put first on
PATH; the replay prints a quoted output byte for byte. Failures of the real tools are the real
ones: the installed ipmitool and ipmi-dcmi, run against an address where no BMC answers, and in
band on this machine, which has no BMC.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.meters.ipmi_dcmi import parse_dcmi
from analyzer_drivers.meters.ipmi_ident import parse_bmc_identity
from tests.conftest import CLI

FIXTURES = Path(__file__).parent / "fixtures" / "ipmi_dcmi"
WORKLOAD = [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "3",
            "--accelerator"]

#: fixture: (tool, watts or None when the BMC says the measurement is not active, stats period s)
READINGS = {
    "ipmitool-lovoo-issue18.txt": ("ipmitool", 215.0, 1131466.0),
    "ipmitool-rabe-zabbix-issue101.txt": ("ipmitool", 197.0, 123893.0),
    "ipmitool-windows-ha-addons-issue38.txt": ("ipmitool", 186.0, 898033.0),  # time, period: one line
    "ipmitool-openbmc-witherspoon-issue3257.txt": ("ipmitool", None, 0.0),  # 319 W, but "deactivated"
    "freeipmi-chameleon-blog.txt": ("freeipmi", 226.0, 1.0),  # 1000 milliseconds
    "freeipmi-ceems-ipmi-test.txt": ("freeipmi", 332.0, 2685198.0),
    "freeipmi-ceems-not-available.txt": ("freeipmi", None, None),
}
EXECUTABLES = {"ipmitool": "ipmitool", "freeipmi": "ipmi-dcmi"}
IDENTITY_EXECUTABLES = {"ipmitool": "ipmitool", "freeipmi": "bmc-info"}
# the Get Device ID (``mc info`` / ``bmc-info``) prints DCMI_IDENT_FIXTURE, nothing when unset
REPLAY = """#!/bin/sh
echo "$(basename "$0") $*" >> "$DCMI_ARGS_LOG"
case "$(basename "$0") $*" in
  *"mc info"*|bmc-info*) exec cat "${DCMI_IDENT_FIXTURE:-/dev/null}" ;;
esac
exec cat "$DCMI_FIXTURE"
"""

#: fixture: (tool, vendor, model, firmware, manufacturer ID, product ID), by hand from each quoted
#: Get Device ID output (README.md names the sources). ipmitool's "Unknown (0x…)" names are no names.
IDENTITIES = {
    "ipmitool-mc-info-openbmc-phosphor-net-ipmid-issue3.txt": ("ipmitool", "", "", "0.00", "42817",
                                                               "16975 (0x424f)"),
    "ipmitool-bmc-info-supermicro-ha-ipmi-issue22.txt": ("ipmitool", "Supermicro", "", "1.53", "10876",
                                                         "2327 (0x0917)"),
    "freeipmi-bmc-info-supermicro-ipmi-exporter-issue57.txt": ("freeipmi", "Super Micro Computer Inc.", "",
                                                               "1.52", "10876", "6937"),
    # quoted from Manufacturer ID on, without the Firmware Revision line: no firmware. Its "System
    # Firmware Version : 2.17.1" is the host's (Get System Info), never taken for the BMC's.
    "freeipmi-bmc-info-dell-ipmi-exporter-issue194.txt": ("freeipmi", "Dell Inc.", "", "", "674",
                                                          "<redacted>"),
}


@pytest.mark.parametrize("fixture", list(READINGS))
def test_each_quoted_output_reads_as_it_says(fixture: str) -> None:
    tool, watts, period_s = READINGS[fixture]
    reading = parse_dcmi(tool, (FIXTURES / fixture).read_text(encoding="utf-8"))
    assert (reading.watts, reading.period_s) == (watts, period_s)


def test_the_other_tools_output_is_not_a_reading() -> None:
    with pytest.raises(ValueError, match="not a DCMI power reading"):
        parse_dcmi("freeipmi", (FIXTURES / "ipmitool-lovoo-issue18.txt").read_text())
    with pytest.raises(ValueError, match="not a DCMI power reading: 'Current Power"):
        parse_dcmi("ipmitool", (FIXTURES / "freeipmi-chameleon-blog.txt").read_text())


def _replay_bin(tmp_path: Path, tool: str, fixture: str) -> dict[str, str]:
    """An environment whose PATH starts with a replaying ``ipmitool`` or ``ipmi-dcmi``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in {EXECUTABLES[tool], IDENTITY_EXECUTABLES[tool]}:
        exe = bin_dir / name
        exe.write_text(REPLAY)
        exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "DCMI_FIXTURE": str(FIXTURES / fixture), "DCMI_ARGS_LOG": str(tmp_path / "args.log")}


def _run(tmp_path: Path, env: dict[str, str], analyzer: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "ipmi.toml"
    # every second, as MLPerf samples (a poll runs the tool: a new process, which a loaded 2-core
    # machine delayed past half of a 250 ms interval, failing the 95 % coverage check)
    config.write_text(f"[analyzer]\n{analyzer}\ninterval_ms = 1000\n[session]\nsettle_s = 0.2\n"
                      "lead_intervals = 0\n")  # a BMC's reading; padded edges: tests/test_phase_edges.py
    out = tmp_path / "runs"
    command = [*CLI, "run", "--config", str(config), "--out", str(out), "--json", "--", *WORKLOAD]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


SESSIONS = [f for f, (_, watts, _) in READINGS.items() if watts is not None]


@pytest.mark.parametrize("fixture", SESSIONS)
def test_a_session_on_each_quoted_bmc(tmp_path: Path, fixture: str) -> None:
    tool, watts, _ = READINGS[fixture]
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    env = _replay_bin(tmp_path, tool, fixture)
    result = _run(tmp_path, env, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "10.0.0.9"\n'
                                 f'username = "power"\npassword_file = "{secret}"')
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["mlperf_valid"] is False, report["problems"]
    assert report["power"]["avg_watts"] == watts
    calls = (tmp_path / "args.log").read_text().splitlines()
    assert len(calls) >= 4 and "s3cret" not in "".join(calls)  # the password never on the command line
    assert calls[0].startswith("ipmitool -I lanplus -H 10.0.0.9 -U power -E" if tool == "ipmitool"
                               else "ipmi-dcmi -h 10.0.0.9")
    # the Get Device ID printed nothing (no DCMI_IDENT_FIXTURE): who the BMC is stays unknown
    analyzer = report["analyzer"]
    assert (analyzer.get("vendor") or "", analyzer["model"], analyzer.get("firmware") or "") == (
        "", "IPMI-DCMI", "")


@pytest.mark.parametrize("fixture", list(IDENTITIES))
def test_each_quoted_device_id_names_the_bmc_as_it_says(fixture: str) -> None:
    _, vendor, model, firmware, maker_id, product_id = IDENTITIES[fixture]
    identity, said = parse_bmc_identity((FIXTURES / fixture).read_text(encoding="utf-8"))
    assert identity == MeterIdentity(vendor, model, "", firmware)
    assert said == {"manufacturer_id": maker_id, "product_id": product_id}
    assert parse_bmc_identity((FIXTURES / "ipmitool-lovoo-issue18.txt").read_text()) == (MeterIdentity(), {})


@pytest.mark.parametrize("fixture", list(IDENTITIES))
def test_a_session_records_who_the_bmc_is(tmp_path: Path, fixture: str) -> None:
    tool, vendor, model, firmware, maker_id, product_id = IDENTITIES[fixture]
    reading = next(f for f, (t, watts, _) in READINGS.items() if t == tool and watts is not None)
    env = {**_replay_bin(tmp_path, tool, reading), "DCMI_IDENT_FIXTURE": str(FIXTURES / fixture)}
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    result = _run(tmp_path, env, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "10.0.0.9"\n'
                                 f'username = "power"\npassword_file = "{secret}"')
    assert result.returncode == 0, result.stdout + result.stderr
    (session_json,) = (tmp_path / "runs").glob("*/session.json")
    analyzer = json.loads(session_json.read_text())["analyzer"]
    assert [analyzer.get(k) or "" for k in ("vendor", "model", "serial", "firmware")] == [
        vendor, model or "IPMI-DCMI", "", firmware]
    assert (analyzer["extra"]["manufacturer_id"], analyzer["extra"]["product_id"]) == (maker_id, product_id)
    calls = (tmp_path / "args.log").read_text().splitlines()
    (asked,) = [c for c in calls if c.endswith(" mc info") or c.startswith("bmc-info")]  # asked once
    assert asked.startswith("ipmitool -I lanplus -H 10.0.0.9 -U power -E" if tool == "ipmitool"
                            else "bmc-info -h 10.0.0.9 --config-file ")  # remote, as the reading is
    assert asked.endswith(" mc info" if tool == "ipmitool" else " --get-device-id") and "s3cret" not in asked


def _one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("tool", ["ipmitool", "freeipmi"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, tool: str) -> None:
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("Error: this BMC speaks no DCMI\n\x00\xff")
    env = _replay_bin(tmp_path, tool, str(garbage))
    assert "not a DCMI power reading: 'Error: this BMC speaks no DCMI'" in _one_line_exit_2(
        _run(tmp_path, env, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "local"'))
    inactive = next(f for f, (t, watts, _) in READINGS.items() if t == tool and watts is None)
    env = _replay_bin(tmp_path, tool, inactive)
    assert "power measurement is not active" in _one_line_exit_2(
        _run(tmp_path, env, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "local"'))
    no_tools = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # only the venv's bin
    assert f"{EXECUTABLES[tool]} not found on PATH" in _one_line_exit_2(
        _run(tmp_path, no_tools, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "local"'))


@pytest.mark.skipif(not (shutil.which("ipmitool") and shutil.which("ipmi-dcmi")), reason="ipmitool/freeipmi")
@pytest.mark.parametrize(("tool", "said"), [("ipmitool", "Unable to establish IPMI v2 / RMCP+ session"),
                                            ("freeipmi", "connection timeout")])
def test_the_real_tools_against_a_dead_bmc(tmp_path: Path, tool: str, said: str) -> None:
    secret = tmp_path / "password"
    secret.write_text("x\n")
    line = _one_line_exit_2(_run(tmp_path, dict(os.environ), f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\n'
                                 f'host = "127.0.0.2"\nusername = "u"\npassword_file = "{secret}"\n'
                                 "reply_timeout_s = 2.0"))
    assert f"{EXECUTABLES[tool]} failed (exit 1): " in line and said in line


@pytest.mark.skipif(not (shutil.which("ipmitool") and shutil.which("ipmi-dcmi")), reason="ipmitool/freeipmi")
@pytest.mark.skipif(Path("/dev/ipmi0").exists(), reason="this machine has a BMC")
@pytest.mark.parametrize(("tool", "said"), [("ipmitool", "Could not open device at /dev/ipmi0"),
                                            ("freeipmi", "could not find inband device")])
def test_the_real_tools_in_band_without_a_bmc(tmp_path: Path, tool: str, said: str) -> None:
    line = _one_line_exit_2(_run(tmp_path, dict(os.environ), f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\n'
                                 'host = "local"'))
    assert said in line


@pytest.mark.parametrize("tool", ["ipmitool", "freeipmi"])
def test_a_failing_device_id_leaves_the_identity_empty_and_the_session_whole(tmp_path: Path,
                                                                             tool: str) -> None:
    """The Get Device ID exits 1 (cat of a missing file: "No such file or directory"); the readings
    and the session are as without it, who the BMC is unknown."""
    reading = next(f for f, (t, watts, _) in READINGS.items() if t == tool and watts is not None)
    env = {**_replay_bin(tmp_path, tool, reading), "DCMI_IDENT_FIXTURE": str(tmp_path / "missing.txt")}
    result = _run(tmp_path, env, f'type = "ipmi-dcmi"\nipmi_tool = "{tool}"\nhost = "local"')
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["power"]["avg_watts"] == READINGS[reading][1]
    analyzer = report["analyzer"]
    assert (analyzer.get("vendor") or "", analyzer["model"], analyzer.get("firmware") or "") == (
        "", "IPMI-DCMI", "")
    assert "manufacturer_id" not in analyzer["extra"]
