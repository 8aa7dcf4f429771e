"""Real Redfish data (DMTF's mockups, vendor BMC captures), served by sushy-tools' real
``sushy-static``, read by the driver and measured by whole sessions from the command line.

tests/fixtures/redfish/README.md names each device's source (repository, path, commit, licence)
and what a static capture lacked. The expected watts below are derived by hand from each
device's JSON, following the DMTF schema text quoted in docs/datacenter-redfish.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.base import AnalyzerError, AnalyzerInfo
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.meters.redfish import RedfishAnalyzer
from analyzer_drivers.meters.redfish_plan import chosen_controls
from reports.mlperf.submission import analyzer_table
from tests.conftest import run_cli

CORPUS = Path(__file__).parent / "fixtures" / "redfish"
WORKLOAD = [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "2",
            "--accelerator"]


@dataclass(frozen=True)
class Device:
    watts: float | None  # None: the data holds no chassis power; the refusal names what was looked for
    schema: str = ""
    config: str = ""  # extra [analyzer] lines
    why: str = ""  # how the watts follow from the data


DEVICES = {
    "dmtf-rackmount1": Device(374, "environment", why="Chassis/1U/EnvironmentMetrics PowerWatts → its "
                              "DataSourceUri Sensors/TotalPower Reading 374 (the legacy Power says 344)"),
    "dmtf-tower": Device(374, "environment", why="EnvironmentMetrics PowerWatts excerpt says 974, its "
                         "DataSourceUri Sensors/TotalPower Reading 374: the sensor is read"),
    "dmtf-liquid-cooled": Device(374, "environment", why="Chassis/1U EnvironmentMetrics → TotalPower 374"),
    "dmtf-smartnic": Device(374, "environment", why="first chassis 1U: EnvironmentMetrics → TotalPower 374"),
    "dmtf-power-shelf": Device(374, "supplies", why="EnvironmentMetrics has no PowerWatts; PowerSubsystem "
                               "is mislinked to Sensors, read at Chassis/PowerShelf/PowerSubsystem; Bay1 "
                               "Metrics InputPowerWatts → Sensors/PS1InputPower 374 (excerpt 937.4); "
                               "Bay2..6 Absent"),
    "dmtf-catfish": Device(224, "legacy", why="Chassis/1/Power PowerControl[0].PowerConsumedWatts 224"),
    "dmtf-telemetry": Device(8000, "legacy", why="first chassis 1: PowerControl[0].PowerConsumedWatts 8000"),
    "dmtf-nvmeof-jbof": Device(1795, "legacy", why="Chassis/1/Power PowerControl[0] 1795"),
    "dmtf-compose-action": Device(559, "legacy", why="first chassis BladeServer-1: PowerControl[0] 559"),
    "dmtf-pdu": Device(28783, "sensors", 'sensor = "ACMainPower"',
                       why="Chassis/PDU's Sensors collection lists two Power sensors with PhysicalContext "
                       "Chassis (ACMainPower 28783, GroupPowerRack5Storage 412.36): sensor ACMainPower"),
    "hpe-ilo5-gen10": Device(221, "legacy", why="Chassis/1/Power PowerControl[0].PowerConsumedWatts 221"),
    "dell-idrac-r640": Device(429, "legacy", why="Chassis/System.Embedded.1/Power PowerControl[0] 429"),
    "dmtf-bladed": Device(None, why="no chassis has EnvironmentMetrics, supplies, sensors or a "
                          "PowerControl entry with PowerConsumedWatts (MultiBladeEncl's is empty)"),
}

#: Who measured, by hand from each device's JSON (analyzer_drivers/meters/redfish_ident.py cites the
#: schema): (vendor, model, serial, firmware, part number, where each comes from). A property the
#: data lacks is "" and stays so.
IDENTITIES = {
    "dmtf-rackmount1": ("Contoso", "3500RX", "437XR1138R2", "1.45.455b66-rev4", "224071-J23",
                        "Chassis/1U; a Chassis has no FirmwareVersion: its Links.ManagedBy Managers/BMC's"),
    "dmtf-tower": ("Contoso", "3500TX", "437XR1238R2", "1.45.455b66-rev4", "224071-J23",
                   "Chassis/Tower; Managers/BMC"),
    "dmtf-liquid-cooled": ("Contoso", "3500RX", "437XR1138R2", "1.45.455b66-rev4", "224071-J23",
                           "Chassis/1U; Managers/BMC"),
    "dmtf-smartnic": ("Contoso", "3500RX", "437XR1138R2", "1.45.455b66-rev4", "224071-J23",
                      "Chassis/1U; Managers/BMC"),
    "dmtf-power-shelf": ("Contoso Power", "RKS-440DC", "3488247", "1.00", "23456-133",
                         "the one supply read, PowerSupplies/Bay1, with its own FirmwareVersion (not the "
                         "shelf's Links.PowerDistribution PowerShelves/1, ZAP33000 1.2.1)"),
    "dmtf-catfish": ("CatfishManufacturer", "YellowCat1000", "2M220100SL", "1.00", "",
                     "Chassis/1, PartNumber \"\"; Managers/bmc"),
    "dmtf-telemetry": ("ManufacturerName", "ProductModelName", "2M220100SL", "1.00", "",
                       "Chassis/1, PartNumber \"\"; Managers/1"),
    "dmtf-nvmeof-jbof": ("Contoso", "NV4000", "546XR2742R7", "2.55.00", "NV4000-RX",
                         "Chassis/1; Managers/BMC"),
    "dmtf-compose-action": ("Contoso", "Vendor BladeServer", "CNFCP007BE00IT", "", "0177V9X30",
                            "Chassis/BladeServer-1, which has no Links.ManagedBy: no firmware"),
    "dmtf-pdu": ("Contoso", "ZAP4000", "29347ZT536", "4.3.0", "AA-23",
                 "the chassis' Links.PowerDistribution, PowerEquipment/RackPDUs/1"),
    "hpe-ilo5-gen10": ("HP", "Proliant Gen10", "QWEVC007C99803", "", "CT6NWPYZ",
                       "Chassis/1; telegraf's capture has no Links.ManagedBy"),
    "dell-idrac-r640": ("Dell Inc.", "PowerEdge R640", "CNIVC007CV0803", "", "0CRT1GA05",
                        "Chassis/System.Embedded.1; its Managers/iDRAC.Embedded.1 is not in telegraf's "
                        "capture (404): no firmware"),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether it listens on ``port`` within 60 s (False at once if it exited)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.05)
    return False


def _launch(mockup: Path, taken: set[int]) -> tuple[int, subprocess.Popen[bytes]]:
    """sushy-static serving ``mockup`` on a free port none of the others was given."""
    port = _free_port()
    while port in taken:
        port = _free_port()
    taken.add(port)
    command = [sys.executable, "-m", "sushy_tools.static.main", "-i", "127.0.0.1", "-p", str(port),
               "-m", str(mockup)]
    return port, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _listening_server(mockup: Path, taken: set[int],
                      launched: tuple[int, subprocess.Popen[bytes]] | None = None,
                      ) -> tuple[int, subprocess.Popen[bytes]]:
    """A sushy-static listening on its port. A port free when picked may be taken before
    sushy-static binds it (another test's connection: seen at -n 3, sushy-static exited 1):
    it is started again on another, three tries in all."""
    port, process = launched or _launch(mockup, taken)
    for attempt in range(3):
        if _listening(port, process):
            return port, process
        process.terminate()
        process.wait(10)
        if attempt < 2:
            port, process = _launch(mockup, taken)
    raise AssertionError(f"sushy-static for {mockup.name} did not listen (3 ports tried)")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, int]]:
    """One unmodified sushy-static per device (it serves one mockup directory each), all started
    before any is waited for."""
    started: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    taken: set[int] = set()
    try:
        for name in DEVICES:
            started[name] = _launch(CORPUS / name, taken)
        for name in DEVICES:
            started[name] = _listening_server(CORPUS / name, taken, started[name])
        yield {name: port for name, (port, _) in started.items()}
    finally:
        for _, process in started.values():
            process.terminate()
            process.wait(10)


def _meter(port: int, **options: Any) -> RedfishAnalyzer:
    return RedfishAnalyzer(f"http://127.0.0.1:{port}", auth="none", timeout_s=5, **options)


def _options(device: Device) -> dict[str, Any]:
    return dict(line.replace('"', "").split(" = ") for line in device.config.splitlines())


async def _read_once(meter: RedfishAnalyzer) -> tuple[float | None, AnalyzerInfo]:
    async with meter:
        info = await meter.identify()
        return (await meter.read()).watts, info


@pytest.mark.parametrize("name", [n for n, d in DEVICES.items() if d.watts is not None])
def test_each_device_reads_as_its_data_says(servers: dict[str, int], name: str) -> None:
    device = DEVICES[name]
    watts, info = asyncio.run(_read_once(_meter(servers[name], **_options(device))))
    extra = info.extra
    assert watts == pytest.approx(device.watts), device.why
    assert extra["schema"] == device.schema
    vendor, model, serial, firmware, part, why = IDENTITIES[name]
    assert info.identity == MeterIdentity(vendor, model, serial, firmware), why
    assert (extra.get("part_number", ""), info.model, info.name) == (
        part, model, f"Redfish {vendor} {model}"), why
    if device.schema == "legacy":  # no ReadingTime: the evidence says the BMC's update time is unknown
        assert extra["reading_time"].startswith("unknown")


def test_a_device_without_power_is_one_line_naming_what_was_looked_for(servers: dict[str, int]) -> None:
    with pytest.raises(AnalyzerError) as refused:
        asyncio.run(_read_once(_meter(servers["dmtf-bladed"])))
    message = str(refused.value)
    assert "\n" not in message and "no chassis power" in message
    for looked_for in ("EnvironmentMetrics PowerWatts", "PowerSubsystem", "ReadingType Power",
                       "PowerConsumedWatts"):
        assert looked_for in message
    assert "MultiBladeEncl: " in message and "Blade1: " in message  # every chassis was tried


def test_several_chassis_power_sensors_ask_which(servers: dict[str, int]) -> None:
    two = r"PDU: .*2 chassis Power sensors \(ACMainPower, GroupPowerRack5Storage\): set sensor"
    with pytest.raises(AnalyzerError, match=two):
        asyncio.run(_read_once(_meter(servers["dmtf-pdu"])))


def test_a_chassis_that_does_not_exist_lists_those_that_do(servers: dict[str, int]) -> None:
    with pytest.raises(AnalyzerError) as refused:
        asyncio.run(_read_once(_meter(servers["dmtf-compose-action"], chassis="Rack9")))
    assert str(refused.value).endswith(
        "no chassis 'Rack9'; the BMC has BladeServer-1, BladeServer-2, BladeServer-3, FabricEngine, IOM-1, "
        "IOM-2, RackServer-1, RackServer-2, RackServer-3, RackServer-4, RackServer-5, StorageSled-1")
    watts, _ = asyncio.run(_read_once(_meter(servers["dmtf-compose-action"], chassis="RackServer-4")))
    assert watts == 559


def test_chosen_schema_and_power_control(servers: dict[str, int]) -> None:
    """rackmount1 holds all four: each read as the data says when asked for by name."""
    port = servers["dmtf-rackmount1"]
    assert asyncio.run(_read_once(_meter(port, schema="legacy")))[0] == 344  # PowerControl[0]
    assert asyncio.run(_read_once(_meter(port, schema="legacy", power_control="0")))[0] == 344
    assert asyncio.run(_read_once(_meter(port, schema="sensors")))[0] == 374  # Sensors/TotalPower
    # supplies: Bay1 Metrics InputPowerWatts → Sensors/PS1InputPower 374; Bay2 is Absent
    watts, info = asyncio.run(_read_once(_meter(port, schema="supplies")))
    assert watts == 374
    # the one supply read names itself: PowerSupplies/Bay1, its own FirmwareVersion 1.00
    assert info.identity == MeterIdentity("Contoso Power", "RKS-440DC", "3488247", "1.00")
    assert info.extra["identity_uri"] == "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1"
    with pytest.raises(AnalyzerError, match=r"1U: no PowerControl MemberId '7' with PowerConsumedWatts"):
        asyncio.run(_read_once(_meter(port, schema="legacy", power_control="7")))


def _config(tmp_path: Path, name: str, port: int) -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(f'[analyzer]\ntype = "redfish"\nurl = "http://127.0.0.1:{port}"\nauth = "none"\n'
                      f"interval_ms = 500\n{DEVICES[name].config}\n[session]\nsettle_s = 0.2\n"
                      "lead_intervals = 0\n")  # a device's reading; padded edges: tests/test_phase_edges.py
    return config


@pytest.mark.parametrize("name", list(DEVICES))
def test_a_session_on_each_device(servers: dict[str, int], tmp_path: Path, name: str) -> None:
    device = DEVICES[name]
    config = _config(tmp_path, name, servers[name])
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--json", "--",
                     *WORKLOAD, timeout=300)
    if device.watts is None:
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "no chassis power" in line and "looked for" in line
        return
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["mlperf_valid"] is False, report["problems"]
    assert report["power"]["avg_watts"] == pytest.approx(device.watts)
    (session_json,) = (tmp_path / "runs").glob("*/session.json")
    analyzer = json.loads(session_json.read_text())["analyzer"]
    extra = analyzer["extra"]  # the evidence kept with the session
    vendor, model, serial, firmware, part, why = IDENTITIES[name]
    assert [analyzer.get(key, "") for key in ("vendor", "model", "serial", "firmware")] == [
        vendor, model, serial, firmware], why
    assert extra.get("part_number", "") == part, why
    table = analyzer_table(SessionMeta.from_json(json.loads(session_json.read_text())))
    assert f"| Vendor | {vendor} |" in table and f"| Model | {model} |" in table, table
    assert f"| Serial number | {serial} |" in table and f"| Firmware | {firmware or 'unknown'} |" in table
    assert extra["schema"] == device.schema
    sensor = CORPUS / name / extra["power_uri"].removeprefix("/redfish/v1/") / "index.json"
    stamped = device.schema != "legacy" and "ReadingTime" in json.loads(sensor.read_text())
    assert extra["reading_time"].startswith("unknown") != stamped  # the BMC's update time unknown: said so


def test_advise_reads_interval_in_min_as_the_schema_says(servers: dict[str, int], tmp_path: Path) -> None:
    """iLO 5 states IntervalInMin 20: the window of its Min/Max/Average (DMTF Power schema), not of
    PowerConsumedWatts; advise once predicted "averaging window 1200 s … up to ±100.00 %"."""
    config = _config(tmp_path, "hpe-ilo5-gen10", servers["hpe-ilo5-gen10"])
    result = run_cli("advise", "--config", str(config), "--watts", "221", "--seconds", "600")
    assert result.returncode in (0, 1), result.stderr
    assert "1200 s" not in result.stdout and "±100.00 %" not in result.stdout
    assert "IntervalInMin 20 min is the window of the BMC's Min/Max/AverageConsumedWatts" in result.stdout
    assert "averaging window: the meter states none" in result.stdout


def test_bad_input_from_the_command_line_is_one_line(servers: dict[str, int], tmp_path: Path) -> None:
    """A dead BMC (nothing listens) and a chassis that does not exist, through ``power-director run``.
    (A wrong password: tests/test_redfish.py, against sushy-tools' sushy-emulator.)"""
    cases = {
        f'url = "http://127.0.0.1:{_free_port()}"': "Cannot connect to host 127.0.0.1",
        f'url = "http://127.0.0.1:{servers["dmtf-telemetry"]}"\nchassis = "9"':
            "no chassis '9'; the BMC has 1, Tray_1, Tray_2, Tray_3",
    }
    for index, (analyzer, said) in enumerate(cases.items()):
        config = tmp_path / f"bad{index}.toml"
        config.write_text(f'[analyzer]\ntype = "redfish"\n{analyzer}\nauth = "none"\nreply_timeout_s = 2.0\n')
        result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--", *WORKLOAD)
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert said in line, line


def test_power_control_entries_for_parts_are_not_added_to_the_chassis() -> None:
    """DMTF public-telemetry's chassis entry (PhysicalContext Chassis, 8000 W) beside a copy of it
    for a part (a CPU sub-system, the shape a Lenovo SR650 lists; no capture of that is at hand,
    so this second entry is ours): ``auto`` takes the chassis entry, ``sum`` adds both."""
    power = json.loads((CORPUS / "dmtf-telemetry" / "Chassis" / "1" / "Power" / "index.json").read_text())
    chassis_entry = power["PowerControl"][0]
    part = {**chassis_entry, "MemberId": "1", "PhysicalContext": "CPU", "PowerConsumedWatts": 300}
    entries = list(enumerate([chassis_entry, part]))
    assert [i for i, _ in chosen_controls(entries, "auto")] == [0]
    assert [i for i, _ in chosen_controls(entries, "sum")] == [0, 1]
    assert [i for i, _ in chosen_controls(entries, "1")] == [1]
    no_context = [(i, {k: v for k, v in c.items() if k != "PhysicalContext"}) for i, c in entries]
    assert [i for i, _ in chosen_controls(no_context, "auto")] == [0, 1]  # none says: every entry


def test_an_odd_identity_is_an_empty_field_never_a_failed_reading(tmp_path: Path) -> None:
    """DMTF's catfish with its chassis' Manufacturer a number and SerialNumber null, and its
    manager's JSON garbled (edits of ours, to a copy): the reading is as before, the fields the
    BMC did not give as text are empty, the firmware (the manager's) unknown."""
    mockup = tmp_path / "catfish"
    shutil.copytree(CORPUS / "dmtf-catfish", mockup)
    chassis_file = mockup / "Chassis" / "1" / "index.json"
    chassis = json.loads(chassis_file.read_text())
    chassis_file.write_text(json.dumps({**chassis, "Manufacturer": 42, "SerialNumber": None}))
    (mockup / "Managers" / "bmc" / "index.json").write_text('{"FirmwareVersion": "1.0')
    port, process = _listening_server(mockup, set())
    try:
        watts, info = asyncio.run(_read_once(_meter(port)))
    finally:
        process.terminate()
        process.wait(10)
    assert watts == 224
    assert info.identity == MeterIdentity("", "YellowCat1000", "", "")
    assert "manager_firmware" not in info.extra and info.name == "Redfish YellowCat1000"
