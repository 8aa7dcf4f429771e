"""The SNMP driver on recordings of real agents (tests/fixtures/snmprec/, origins in its README),
served by Debian's snmpsimd: one agent per module serves every recording under its file name as
community (v2c) and context (v3), beside the PDU simulator's own data (community ``pdu``).

Each device's expected watts are worked out here by hand from the recording and the MIB (OID, raw
value, units, decimal digits; the MIB texts are cited in analyzer_drivers/meters/snmp_mibs.py), not by the
driver. A session on each ends valid (not MLPerf-valid) with that value as its headline; a device
whose recording holds no power object is refused in one line naming what was looked for.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.identity import MeterIdentity
from analyzer_drivers.meters.snmp import PduReadings, Point, SnmpCredentials, SnmpPduAnalyzer
from analyzer_drivers.sim.snmp_pdu import SIM_FAMILIES, Outlet, PduData, SnmpPduSimulator
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(shutil.which("snmpsimd") is None, reason="snmpsim (Debian) not installed")

CORPUS = Path(__file__).parent / "fixtures" / "snmprec"
APC = "1.3.6.1.4.1.318.1.1"


@dataclass(frozen=True)
class Device:
    community: str  # the recording's file name
    family: str
    watts: float | None  # None: the recording holds no power reading
    source: str  # the table auto chooses, or the words of the refusal
    derivation: str  # how the watts follow from the recording and the MIB
    outlets: tuple[str, ...] = ()

    @property
    def idle(self) -> bool:
        """A 0 W reading: MLCommons averages watts > 0 only (reports/mlperf/rules.py), so such a session has
        no valid sample and is INVALID, saying so (exit 1), though every reading was right."""
        return self.watts == 0.0


DEVICES = [
    Device("etingof-apc-ap7902b", "apc", 192.0, "ident",
           f"rPDU2DeviceStatusPower {APC}.26.4.3.1.5.1 = -1 and rPDU2PhaseStatusPower .26.6.3.1.7.1 = -1 "
           "('Models that do not support this feature will respond … -1'), no metered outlets; "
           f"rPDUIdentDevicePowerWatts {APC}.12.1.16.0 = 192, 'Power in Watts' → 192 W"),
    Device("etingof-apc-ap8641", "apc", 1210.0, "device",
           f"rPDU2DeviceStatusPower {APC}.26.4.3.1.5.1 = 121 hundredths of kW → 1.21 kW = 1210 W"),
    Device("etingof-apc-ap8932", "apc", 160.0, "device",
           f"rPDU2DeviceStatusPower {APC}.26.4.3.1.5.1 = 16 hundredths of kW → 160 W"),
    Device("librenms-apc-ap8853", "apc", 1140.0, "device",
           f"rPDU2DeviceStatusPower {APC}.26.4.3.1.5.1 = 114 hundredths of kW → 1140 W"),
    Device("librenms-apc-ap8959eu3", "apc", 270.0, "device",
           f"rPDU2DeviceStatusPower {APC}.26.4.3.1.5.1 = 27 hundredths of kW → 270 W "
           "(rPDUIdentDevicePowerWatts .12.1.16.0 = 270 W agrees)"),
    Device("librenms-sentry4", "sentry4", 1701.0, "cord",
           "st4InputCordActivePower 1.3.6.1.4.1.1718.4.1.3.3.1.3.1.1 = 1701, UNITS Watts → 1701 W"),
    Device("librenms-raritan-pdu", "raritan", 138.0, "inlet",
           "measurementsInletSensorValue 1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5 (activePower) = 138, "
           "inletSensorDecimalDigits .6.3.3.4.1.7.1.1.5 = 0 → 138 W (its outlets 1.3/1.10/1.11 .5 = "
           "68 + 35 + 35 = 138 W agree)"),
    Device("centreon-raritan", "raritan", 242.0, "inlet",
           "measurementsInletSensorValue .13742.6.5.2.3.1.4.1.1.5 = Gauge32 242, State .3.1.1.5 = "
           "normal(4), inletSensorDecimalDigits .6.3.3.4.1.7.1.1.5 = 0 → 242 W"),
    Device("centreon-mellanox", "entity", 60.0, "sensor",
           "entPhySensorValue 1.3.6.1.2.1.99.1.1.1.4.200011030 ('MGMT/PS1/POWER') = 60, type watts(6), "
           "scale units(9), precision 0, OperStatus ok(1) → 60 W", ("200011030",)),
    Device("etingof-arista-7150s", "entity", 6015e-7, "sensor",
           "entPhySensorValue .99.1.1.1.4.100305212 ('DOM TX Power Sensor for Ethernet5') = 6015, "
           "watts(6), scale milli(8), precision 4 → 6015 × 10^-3 × 10^-4 W = 0.0006015 W", ("100305212",)),
    Device("etingof-eaton-93e-80", "ups", 11400.0, "output",
           "upsOutputPower 1.3.6.1.2.1.33.1.4.4.1.4.1/.2/.3 = 5100 + 3600 + 2700 Watts → 11400 W"),
    Device("etingof-ingrasys-power-switch", "ups", 21100.0, "output",
           "upsOutputPower .33.1.4.4.1.4.1/.2/.3 = 7900 + 5500 + 7700 Watts → 21100 W"),
    Device("etingof-huawei-gse200m", "ups", 34.0, "output",
           "upsOutputPower .33.1.4.4.1.4.1 = Gauge32 34 Watts → 34 W"),
    Device("etingof-phoenixtec-power", "ups", 0.0, "output",
           "upsOutputPower .33.1.4.4.1.4.1/.2/.3 = 0 + 0 + 0 Watts → 0 W (a UPS on no load)"),
    Device("etingof-eastpower-istars", "ups", 0.0, "output",
           "upsOutputPower .33.1.4.4.1.4.1.0/.2.0/.3.0 (this agent's row indexes) = 0 + 0 + 0 → 0 W"),
    Device("librenms-sentry3", "sentry3", None, "infeed 1.3.6.1.4.1.1718.3.2.2.1.12.*",
           "infeedTable has LoadValue/Voltage (.7, .11) but no infeedPower {infeedEntry 12}"),
    Device("librenms-raritan", "raritan", None, "inlet 1.3.6.1.4.1.13742.6.5.2.3.1.4.*.5",
           "a Dominion PX on the older RARITAN MIB (.13742.4): no PDU2-MIB object at all"),
    Device("etingof-paloalto-pa5000", "entity", None, "no watts(6) sensor",
           "ENTITY-SENSOR has celsius(8) and rpm(10) sensors, none watts(6)"),
]
READABLE = [d for d in DEVICES if d.watts is not None]
#: Report checks that follow how promptly this machine runs the director's polls, not the device.
LOAD_DEPENDENT = {"ranging_sample_coverage", "testing_sample_coverage"}
_APC_MAKER = "American Power Conversion"  # sysObjectID .318.*: PowerNet-MIB's apc = { enterprises 318 }

#: Who each agent says it is, by hand from the recording and the MIBs analyzer_drivers/meters/snmp_ident.py
#: cites: (vendor, model, serial, firmware, what else it said, how). What a recording lacks stays "".
IDENTITIES: dict[str, tuple[str, str, str, str, dict[str, str], str]] = {
    "etingof-apc-ap7902b": (_APC_MAKER, "AP7902B", "5A1551F39430", "v6.7.2", {},
                            "rPDUIdentModelNumber .318.1.1.12.1.5.0, …SerialNumber .6.0, …FirmwareRev .3.0 "
                            "(hex 76362e372e32); no rPDU2IdentTable"),
    "etingof-apc-ap8641": (_APC_MAKER, "AP8641", "3F3452A52295", "v6.7.2", {},
                           "rPDUIdent .12.1.5/.6/.3; the sysDescr's SN: 5A26833B4526 is the card's"),
    "etingof-apc-ap8932": (_APC_MAKER, "AP8932", "3F503A169043", "v6.7.2", {}, "rPDUIdent .12.1.5/.6/.3"),
    "librenms-apc-ap8853": (_APC_MAKER, "", "", "", {}, "no rPDUIdent or rPDU2Ident object at all"),
    "librenms-apc-ap8959eu3": (_APC_MAKER, "AP8959EU3", "5A1638E01463", "", {},
                               "rPDUIdent .12.1.5.0 and .6.0; no .12.1.3.0 firmware object"),
    "librenms-sentry4": ("Server Technology, Inc.", "", "", "", {},
                         "sysObjectID .1718.4; Sentry4's identity objects are not read (no recording "
                         "has them)"),
    "librenms-sentry3": ("Server Technology, Inc.", "CW-24V2C458C1", "ADLH0001862",
                         "Sentry Switched CDU Version 7.1a", {},
                         "towerModelNumber .1718.3.2.1.1.7.1, towerProductSN .6.1, systemVersion "
                         ".1718.3.1.1.0"),
    "librenms-raritan-pdu": ("Raritan", "", "", "", {},
                             "sysObjectID .13742.4 (PDU2-MIB: raritan, ORGANIZATION \"Raritan\"); the "
                             "nameplate is not read (no recording has it)"),
    "librenms-raritan": ("Raritan", "", "", "", {}, "the same Dominion PX"),
    "centreon-raritan": ("", "", "", "", {}, "no system group, no nameplate in the walk"),
    "centreon-mellanox": ("", "", "", "", {}, "no sysObjectID and only entPhysicalDescr in the walk"),
    "etingof-arista-7150s": ("Arista Networks", "DCS-7150S-52-CL", "JPE15151458",
                             "Aboot-norcal2-2.0.10-1458058",
                             {"software": "4.20.5F"},
                             "entPhysicalClass.1 = chassis(3); its MfgName .12.1, ModelName .13.1, SerialNum "
                             ".11.1, FirmwareRev .9.1, SoftwareRev .10.1"),
    "etingof-paloalto-pa5000": ("Palo Alto Networks", "PA-5050", "0009C100761", "", {"software": "8.0.1"},
                                "entPhysical row 1, a chassis(3); FirmwareRev .9.1 is empty"),
    "etingof-eaton-93e-80": ("EATON", "EATON 93E 80", "", "INV: 2.08.0011",
                             {"agent_software": "Network Management Card V6.00 JH"},
                             "upsIdentManufacturer .33.1.1.1.0, Model .2.0, UPSSoftwareVersion .3.0, "
                             "AgentSoftwareVersion .4.0; UPS-MIB has no serial"),
    "etingof-phoenixtec-power": ("", "", "", "", {"agent_software": "3.6.CY504.c"},
                                 "upsIdent .1-.3 empty; enterprise 935 (XPPC-MIB ppc) is not mapped"),
    "etingof-ingrasys-power-switch": ("Santak", "Array-3A3", "", "00.00",
                                      {"agent_software":
                                       "WebPower Pro II Mini Card v5.27 (SN 11120051132123)"},
                                      "upsIdentModel 'Array-3A3     ': its padding stripped"),
    "etingof-huawei-gse200m": ("HUAWEI", "UPS5000", "", "V100R001C10B003SP00",
                               {"agent_software": "V100R001C10B003SP00"},
                               "upsIdent; sysObjectID .8072.3.2.10 names Net-SNMP, the agent, so no maker"),
    "etingof-eastpower-istars": ("EAST", "EA9080", "", "V8.0", {"agent_software": "iStars_SWV053"},
                                 "upsIdent, padded with spaces"),
}


@pytest.fixture(scope="module")
def agent() -> Iterator[int]:
    """One snmpsimd for the module: the whole corpus and the simulator's PDU (community ``pdu``)."""
    sim = SnmpPduSimulator(PduData("raritan", [Outlet("1.1"), Outlet("1.2")]),
                           recordings=sorted(CORPUS.glob("*.snmp*")))
    port = sim.start()
    try:
        yield port
    finally:
        sim.close()


def _meter(port: int, device: Device, **kwargs: object) -> SnmpPduAnalyzer:
    return SnmpPduAnalyzer("127.0.0.1", port, family=device.family, outlets=device.outlets,
                           credentials=SnmpCredentials(community=device.community), **kwargs)  # type: ignore[arg-type]


def _read_once(meter: SnmpPduAnalyzer) -> tuple[float | None, str]:
    async def main() -> tuple[float | None, str]:
        async with meter:
            sample = PduReadings(meter.points).accept(0, await meter.read())
            return (sample.watts if sample else None), meter.used_source

    return asyncio.run(main())


def test_every_recording_is_in_the_table_and_the_readme() -> None:
    served = {p.stem for p in CORPUS.glob("*.snmp*")}
    assert served == {d.community for d in DEVICES} == set(IDENTITIES)
    readme = (CORPUS / "README.md").read_text()
    assert [name for name in served if name not in readme] == []


@pytest.mark.parametrize("device", READABLE, ids=lambda d: d.community)
def test_each_device_reads_what_its_recording_says(agent: int, device: Device) -> None:
    watts, used = _read_once(_meter(agent, device))
    assert used == device.source, device.derivation
    assert watts == pytest.approx(device.watts, rel=1e-9), device.derivation


def _identity_of(meter: SnmpPduAnalyzer) -> tuple[MeterIdentity, dict[str, str]]:
    async def main() -> tuple[MeterIdentity, dict[str, str]]:
        meter.points = [Point("unread", "1.3.6.1.2.1.1.3.0", None, 1.0, 1.0, 2**32)]  # skip discovery
        async with meter:
            return await meter.read_identity()

    return asyncio.run(main())


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.community)
def test_each_agent_is_who_its_recording_says(agent: int, device: Device) -> None:
    vendor, model, serial, firmware, said, how = IDENTITIES[device.community]
    identity, extra = _identity_of(_meter(agent, device))
    assert identity == MeterIdentity(vendor, model, serial, firmware), how
    assert {k: v for k, v in extra.items() if k not in ("sys_descr", "sys_object_id")} == said, how
    recording = CORPUS / f"{device.community}.snmprec"
    recorded = [line for line in recording.read_text().splitlines()
                if line.startswith("1.3.6.1.2.1.1.1.0|")] if recording.exists() else []
    if recorded:  # the sysDescr kept as the agent said it (hex-recorded ones decoded)
        tag, value = recorded[0].split("|")[1:3]
        assert extra["sys_descr"] == (bytes.fromhex(value).decode() if tag == "4x" else value).strip()


def test_an_agent_that_does_not_answer_who_it_is_gives_empty_fields_not_an_error() -> None:
    """The identity GETNEXT times out (nothing listens on the port): no error, nothing said."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # held, never answered
        port = int(sock.getsockname()[1])
        meter = SnmpPduAnalyzer("127.0.0.1", port, family="ups", timeout_s=0.5)
        assert _identity_of(meter) == (MeterIdentity(), {})


def test_an_agent_that_says_little_of_itself_still_reads(agent: int) -> None:
    """The simulator's PDU (community ``pdu``) serves a sysDescr but no sysObjectID and no
    nameplate: every field is empty, nothing is made up, and the reading is as before."""
    device = Device("pdu", "raritan", None, "", "", outlets=("1.1",))
    assert _identity_of(_meter(agent, device)) == (
        MeterIdentity(), {"sys_descr": "power-director emulated raritan PDU"})
    watts, _ = _read_once(_meter(agent, device))
    assert watts is not None and watts > 0


@pytest.mark.parametrize("device", [d for d in DEVICES if d.watts is None], ids=lambda d: d.community)
def test_a_recording_without_power_is_refused_naming_what_was_looked_for(agent: int, device: Device) -> None:
    with pytest.raises(AnalyzerError) as caught:
        _read_once(_meter(agent, device))
    assert device.source in str(caught.value) and "\n" not in str(caught.value), device.derivation


def test_an_entity_agent_asks_which_sensors_and_lists_its_watts_sensors(agent: int) -> None:
    mellanox = Device("centreon-mellanox", "entity", None, "", "")
    with pytest.raises(AnalyzerError, match=r"name the ENTITY-SENSOR sensors to sum in outlets; watts\(6\) "
                                            r"sensors here: 200011030, 200012030, 200292060, 900101001"):
        _read_once(_meter(agent, mellanox))


def test_a_named_source_is_read_even_where_auto_would_choose_another(agent: int) -> None:
    """AP8641: phase 1 rPDU2PhaseStatusPower .26.6.3.1.7.1 = 122 hundredths of kW → 1220 W; its 24
    metered outlets rPDU2OutletMeteredStatusPower .26.9.4.3.1.7.1-24 sum to 163+4+81+125+71+96+66+66
    +83+101+97+78+86 = 1117 W (the others read 0)."""
    ap8641 = Device("etingof-apc-ap8641", "apc", None, "", "")
    for source, watts in (("phase", 1220.0), ("outlet", 1117.0)):
        read, used = _read_once(_meter(agent, ap8641, snmp_source=source))
        assert used == source and read == pytest.approx(watts)
    with pytest.raises(AnalyzerError, match=r"no apc power reading; looked for device .*26\.4\.3\.1\.5\.\*$"):
        _read_once(_meter(agent, Device("etingof-apc-ap7902b", "apc", None, "", ""), snmp_source="device"))


# --- whole sessions ----------------------------------------------------------------------------
WORKLOAD = ["--", sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "1",
            "--accelerator"]


def _config(tmp_path: Path, port: int, device: Device, extra: str = "") -> Path:
    outlets = f"outlets = {json.dumps(list(device.outlets))}\n" if device.outlets else ""
    config = tmp_path / f"{device.community}.toml"
    config.write_text(
        f'[analyzer]\ntype = "snmp"\nhost = "127.0.0.1"\nport = {port}\nsnmp_family = "{device.family}"\n'
        f'community = "{device.community}"\n{outlets}interval_ms = 250\nreply_timeout_s = 3.0\n{extra}'
        f'[session]\nlabel = "corpus"\nsettle_s = 0.2\n'
        "lead_intervals = 0\n"  # a device's reading; padded edges: tests/test_phase_edges.py
    )
    return config


def _run(tmp_path: Path, config: Path) -> tuple[int, str, str]:
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--json", *WORKLOAD,
                     timeout=300)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("device", DEVICES, ids=lambda d: d.community)
def test_a_session_on_each_device_is_valid_with_its_value_or_refused_in_one_line(
    tmp_path: Path, agent: int, device: Device
) -> None:
    code, out, err = _run(tmp_path, _config(tmp_path, agent, device))
    if device.watts is None:
        assert code == 2, out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and device.source in lines[0], err
        return
    report = json.loads(out)
    if device.idle:
        assert code == 1 and report["valid"] is False, out + err
        (problem,) = [p for p in report["problems"] if p.startswith("no power samples inside the testing")]
        assert "readings there are all 0 W" in problem  # an unloaded UPS read 0 W: said so, not "no samples"
        return
    # Valid, but for sample coverage at most: the driver stamps each polled reading on arrival, so
    # a poll this (loaded) machine delays by 0.25 s leaves 80 % of a 1 s window covered (seen at
    # load 20); what a recording's reading proves is its value and source below.
    failed = {c["name"] for c in report["checks"] if c["status"] == "fail"}
    assert failed <= LOAD_DEPENDENT, report["problems"]
    assert report["valid"] is (not failed) and code == (1 if failed else 0), out + err
    assert report["mlperf_valid"] is False, report["problems"]
    # the report rounds watts to 6 decimals (the Arista optic's 0.0006015 W is 0.000601 there)
    assert report["power"]["avg_watts"] == pytest.approx(device.watts, rel=1e-6, abs=1e-6), device.derivation
    assert report["analyzer"]["extra"]["snmp_source"] == device.source
    vendor, model, serial, firmware, _, how = IDENTITIES[device.community]
    analyzer = report["analyzer"]  # as session.json records the primary meter
    assert [analyzer.get(k) or "" for k in ("vendor", "model", "serial", "firmware")] == [
        vendor, model or f"PDU-{device.family.upper()}", serial, firmware], how


@pytest.mark.parametrize(("extra", "community", "words"), [
    ("", "no-such-device", r"no agent there, or it refused the community"),
    ('snmp_version = "3"\nsnmp_user = "director"\nauth_key_file = "{tmp}/auth"\n'
     'priv_key_file = "{tmp}/priv"\nsnmp_context = "librenms-sentry4"\n', "librenms-sentry4",
     r"credentials were refused"),
    ('snmp_source = "device"\n', "librenms-sentry4", r"family 'sentry4'|snmp_source 'device'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, agent: int, extra: str, community: str,
                                          words: str) -> None:
    (tmp_path / "auth").write_text("not-the-auth-key\n")
    (tmp_path / "priv").write_text("priv-key-123\n")
    device = Device(community, "sentry4", None, "", "")
    code, out, err = _run(tmp_path, _config(tmp_path, agent, device, extra.replace("{tmp}", str(tmp_path))))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and re.search(words, lines[0]), out + err


def test_an_outlet_that_answers_no_such_object_is_one_line_and_exit_2(tmp_path: Path, agent: int) -> None:
    device = Device("librenms-raritan-pdu", "raritan", None, "", "", outlets=("1.99",))
    code, out, err = _run(tmp_path, _config(tmp_path, agent, device))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, out + err
    assert "no raritan power object 1.3.6.1.4.1.13742.6.5.4.3.1.4.1.99.5 (outlet 1.99)" in lines[0]


# --- the simulator against the recordings -------------------------------------------------------
_WALK_TAGS = {"INTEGER": "2", "Gauge32": "66", "Counter32": "65", "STRING": "4", "Timeticks": "67"}


def _tags(path: Path) -> dict[str, str]:
    """OID → SNMP type tag of a .snmprec (``oid|tag|value``) or .snmpwalk (``.oid = TYPE: value``)."""
    found = {}
    for line in path.read_text(errors="replace").splitlines():
        if "|" in line and path.suffix == ".snmprec":
            oid, tag = line.split("|")[:2]
            found[oid] = tag.split(":")[0]
        elif " = " in line:
            oid, value = line.split(" = ", 1)
            found[oid.lstrip(".")] = _WALK_TAGS.get(value.split(":")[0], "?")
    return found


def _column(oid: str, depth: int) -> str:
    return ".".join(oid.split(".")[:depth])


@pytest.mark.parametrize("family", SIM_FAMILIES)
def test_the_simulator_serves_the_types_real_agents_answer(tmp_path: Path, family: str) -> None:
    """Every column the simulator serves that a recording also holds has the recording's SNMP type
    (e.g. APC rPDU2 power is INTEGER, Raritan sensor values Gauge32)."""
    real: dict[str, set[str]] = {}
    for path in CORPUS.glob("*.snmp*"):
        for oid, tag in _tags(path).items():
            real.setdefault(_column(oid, 14), set()).add(tag)
    data = PduData(family, [Outlet(i) for i in {"raritan": ["1.1"], "apc": ["3"], "sentry4": ["1.1.1"],
                                                  "entity": ["1001"]}[family]])
    sim_file = tmp_path / "sim.snmprec"
    sim_file.write_text(data.render())
    served = {_column(oid, 14): {tag} for oid, tag in _tags(sim_file).items()}
    compared = {c: (tags, real[c]) for c, tags in served.items() if c in real}
    assert compared, "no column in common with the recordings"
    assert {c: pair for c, pair in compared.items() if not pair[0] <= pair[1]} == {}


@pytest.mark.parametrize(("family", "index"), [("entity", "1001"), ("raritan", "1.2")])
def test_a_sensor_marked_unavailable_is_an_error_reading_not_zero_watts(family: str, index: str) -> None:
    """Served as the Arista recording has it (etingof-arista-7150s: entPhySensorValue 0 with
    entPhySensorOperStatus unavailable(2)); Raritan: IsAvailable false(2), State unavailable(-1)."""
    sim = SnmpPduSimulator(PduData(family, [Outlet(index, 100.0, 0.0, available=False)]))
    port = sim.start()
    try:
        meter = SnmpPduAnalyzer("127.0.0.1", port, family=family, outlets=[index],
                                credentials=SnmpCredentials(community="pdu"))
        watts, _ = _read_once(meter)
        assert watts == -1.0  # the error reading: the report drops it and counts it, never 0 W
    finally:
        sim.close()


@pytest.mark.parametrize(("family", "source"), [("raritan", "inlet"), ("apc", "device"), ("sentry4", "cord")])
def test_the_simulator_answers_auto_like_a_real_agent(family: str, source: str) -> None:
    """Like the recordings, the simulator has a whole-PDU table beside its outlets, and auto reads it:
    the outlets' sum, in that table's units (APC: hundredths of kW, so to 10 W)."""
    sim = SnmpPduSimulator(PduData(family, [Outlet(i, 100.0, 0.0) for i in {
        "raritan": ["1.1", "1.2"], "apc": ["3", "4"], "sentry4": ["1.1.1", "1.1.2"]}[family]]))
    port = sim.start()
    try:
        pdu = SnmpCredentials(community="pdu")
        watts, used = _read_once(SnmpPduAnalyzer("127.0.0.1", port, family=family, credentials=pdu))
        assert used == source and watts == pytest.approx(200.0)
    finally:
        sim.close()
