"""The SNMP PDU driver against a real snmpsim agent (Debian's snmpsimd) serving MIB-shaped data.

OIDs (cited in analyzer_drivers/meters/snmp.py): Raritan PDU2-MIB measurementsOutletSensorValue
.1.3.6.1.4.1.13742.6.5.4.3.1.4.1.<outlet>.5 = activePower in W, .8 = activeEnergy in Wh, and
measurementPeriod .1.3.6.1.4.1.13742.6.3.2.4.1.2.1 = 1 (networkupstools/nut
drivers/raritan-px2-mib.c @73efe9cacde0d0650fc3f0a364840308ce677c85, whose comments quote a real
PX2: "measurementsInletSensorValue.1.1.activePower = Gauge32: 10 (W)", "activeEnergy = Gauge32:
193359 (wattHour)", "measurementPeriod.1 = INTEGER: 1"); APC rPDU2OutletMeteredStatusPower
.1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.<n> in W (librenms apc discovery); Sentry4-MIB
st4OutletActivePower = st4OutletMonitorEntry 7 under st4Outlets = st4Objects 8 (librenms
mibs/sentry/Sentry4-MIB @15f945c0d793e030221194f8f9bf835f70a87b64); ENTITY-SENSOR-MIB
entPhySensorType watts(6), scale units(9), precision (RFC 3433).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.snmp import (
    Gate,
    PduReadings,
    Point,
    SnmpCredentials,
    SnmpPduAnalyzer,
)
from analyzer_drivers.meters.snmp_mibs import outlet_source, source
from analyzer_drivers.sim.faults import Fault
from analyzer_drivers.sim.snmp_pdu import Outlet, PduData, SnmpPduSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import Session
from reports.spl import read_spl

pytestmark = pytest.mark.skipif(shutil.which("snmpsimd") is None, reason="snmpsim (Debian) not installed")

V2C = SnmpCredentials(community="pdu")
V3 = SnmpCredentials(version="3", user="director", auth_key="auth-key-123", priv_key="priv-key-123",
                     context="pdu")
INDEXES = {"raritan": ["1.1", "1.2"], "apc": ["3", "4"], "sentry4": ["1.1.1", "1.1.2"], "entity": ["1001"]}


def test_oids_are_the_mibs() -> None:
    raritan = outlet_source("raritan")
    assert raritan.power.format(i="1.3") == "1.3.6.1.4.1.13742.6.5.4.3.1.4.1.3.5"
    assert raritan.energy is not None
    assert raritan.energy.format(i="1.3") == "1.3.6.1.4.1.13742.6.5.4.3.1.4.1.3.8"
    assert outlet_source("apc").power.format(i="7") == "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7.7"
    assert outlet_source("sentry4").power.format(i="1.1.4") == "1.3.6.1.4.1.1718.4.1.8.3.1.7.1.1.4"
    assert outlet_source("entity").power.format(i="12") == "1.3.6.1.2.1.99.1.1.1.4.12"
    # the sources the issue named: rPDU2DeviceStatusPower .26.4.3.1.5, rPDU2PhaseStatusPower .26.6.3.1.7
    # (hundredths of kW), st4InputCordActivePower 1718.4.1.3.3.1.3.<unit>.<cord> (W)
    device = source("apc", "device")
    assert (device.power.format(i="1"), device.watts_per_unit) == ("1.3.6.1.4.1.318.1.1.26.4.3.1.5.1", 10.0)
    assert source("apc", "phase").power.format(i="1") == "1.3.6.1.4.1.318.1.1.26.6.3.1.7.1"
    assert source("sentry4", "cord").power.format(i="1.2") == "1.3.6.1.4.1.1718.4.1.3.3.1.3.1.2"
    assert source("raritan", "inlet").row("1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5") == "1.1"
    assert source("raritan", "inlet").row("1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.4") is None  # rmsVoltage


def test_an_unavailable_sensor_is_no_reading_not_zero_watts() -> None:
    """The shape of a real agent (etingof/snmpsim-data arista-dcs-7150s-52-cl: entPhySensorValue
    .100601111 = 0 with entPhySensorOperStatus unavailable(2)) and of a Raritan sensor whose
    IsAvailable is false(2) or whose State is unavailable(-1)."""
    entity = Point("sensor 1", "p", None, 1.0, 3600.0, 2**31, (Gate("s", good=frozenset({1})),))
    assert PduReadings([entity]).accept(0, [0, 2]).watts == -1.0  # type: ignore[union-attr]
    assert PduReadings([entity]).accept(0, [0, 3]).watts == -1.0  # type: ignore[union-attr]
    assert PduReadings([entity]).accept(0, [60, 1]).watts == 60.0  # type: ignore[union-attr]
    assert PduReadings([entity]).accept(0, [60, None]).watts == 60.0  # type: ignore[union-attr]  # no such column
    raritan = Point("inlet 1.1", "p", None, 1.0, 3600.0, 2**32,
                    (Gate("a", good=frozenset({1})), Gate("s", bad=frozenset({-1}))))
    assert PduReadings([raritan]).accept(0, [242, 2, 4]).watts == -1.0  # type: ignore[union-attr]
    assert PduReadings([raritan]).accept(0, [242, 1, -1]).watts == -1.0  # type: ignore[union-attr]
    assert PduReadings([raritan]).accept(0, [242, 1, 4]).watts == 242.0  # type: ignore[union-attr]


def test_a_raritan_reading_stamped_as_before_is_no_new_sample() -> None:
    """PDU2-MIB measurementsInletSensorTimeStamp: when the PDU took the reading (s since 1970)."""
    point = Point("inlet 1.1", "p", None, 1.0, 3600.0, 2**32, (), "t")
    readings = PduReadings([point])
    polls = [(240, 100), (240, 100), (241, 101)]
    kept = [readings.accept(n, [v, stamp]) for n, (v, stamp) in enumerate(polls)]
    assert [s.watts if s else None for s in kept] == [240.0, None, 241.0]
    assert PduReadings.oids([point]) == ["p", "t"]


def test_energy_counters_wrap_and_frozen_counters_are_not_samples() -> None:
    point = Point("outlet 1", "p", "e", 1.0, 3600.0, 2**32)
    readings = PduReadings([point], use_energy=True)
    baseline = readings.accept(0, [100, 2**32 - 2])  # the counter's baseline: the power read with it
    assert baseline is not None and baseline.watts == 100.0
    wrapped = readings.accept(2_000_000_000, [100, 3])  # 5 Wh over 2 s across the wrap
    assert wrapped is not None and wrapped.watts == pytest.approx(5 * 3600 / 2)
    # without counters a steady load repeats itself: every poll is a sample
    steady = PduReadings([Point("outlet 1", "p", None, 0.1, 3600.0, 2**32)])
    assert [s.watts if s else None for s in (steady.accept(t, [1234]) for t in range(5))] == [
        pytest.approx(123.4)] * 5
    assert steady.accept(9, [None]).watts == -1.0  # type: ignore[union-attr]
    # counters still while 3600 W should move them 1 Wh a second: frozen after 2 Wh worth
    frozen = PduReadings([point])
    kept = [frozen.accept(t * 1_000_000_000, [3600, 50]) for t in range(5)]
    assert [s is not None for s in kept] == [True, True, True, False, False]


def _measure(family: str, credentials: SnmpCredentials, source: str = "power",
             seconds: float = 2.5) -> tuple[list[float], SnmpPduSimulator, dict[str, str]]:
    sim = SnmpPduSimulator(PduData(family, [Outlet(i, 100.0, 20.0) for i in INDEXES[family]]))
    port = sim.start()

    async def main() -> tuple[list[float], dict[str, str]]:
        meter = SnmpPduAnalyzer("127.0.0.1", port, family=family, outlets=INDEXES[family],
                                credentials=credentials, source=source)
        async with meter:
            info = await meter.identify()
            await meter.start("m", 500)
            await asyncio.sleep(seconds)
            await meter.stop()
            return [s.watts for s in await meter.poll()], info.extra

    try:
        watts, extra = asyncio.run(main())
    finally:
        sim.close()
    return watts, sim, extra


@pytest.mark.parametrize(("family", "credentials"), [("raritan", V2C), ("apc", V3), ("sentry4", V2C),
                                                     ("entity", V3)])
def test_each_family_sums_its_outlets_as_served(family: str, credentials: SnmpCredentials) -> None:
    watts, sim, extra = _measure(family, credentials)
    assert extra["snmp_version"] == credentials.version
    unit = 0.1 if family == "entity" else 1.0  # entity: precision 1
    served = {round(sum(v or 0 for v in s.powers) * unit, 3) for s in sim.served}
    assert len(watts) >= 3 and all(round(w, 3) in served for w in watts)
    assert all(60 <= w / len(INDEXES[family]) <= 140 for w in watts)


def test_raritan_energy_counters_give_the_mean_power() -> None:
    watts, _, _ = _measure("raritan", V2C, source="energy", seconds=4.0)
    assert len(watts) >= 3
    counted = watts[1:]  # the first is the baseline's power reading
    assert sum(counted) / len(counted) == pytest.approx(200.0, rel=0.05)  # both outlets' counters: 2 × 100 W


def test_wrong_v3_key_is_one_clear_error() -> None:
    sim = SnmpPduSimulator(PduData("raritan", [Outlet("1.1")]))
    port = sim.start()
    wrong = SnmpCredentials(version="3", user="director", auth_key="not-the-key", priv_key="priv-key-123",
                            context="pdu")
    try:
        meter = SnmpPduAnalyzer("127.0.0.1", port, family="raritan", outlets=["1.1"], credentials=wrong,
                                timeout_s=1.0)
        with pytest.raises(AnalyzerError, match=r"credentials were refused") as caught:
            asyncio.run(meter.connect())
        assert "\n" not in str(caught.value)
    finally:
        sim.close()


def test_a_missing_outlet_is_named() -> None:
    sim = SnmpPduSimulator(PduData("apc", [Outlet("3")]))
    port = sim.start()
    try:
        meter = SnmpPduAnalyzer("127.0.0.1", port, family="apc", outlets=["9"], credentials=V2C)
        with pytest.raises(AnalyzerError, match=r"no apc power object .*\(outlet 9\)"):
            asyncio.run(meter.connect())
    finally:
        sim.close()


# --- faults in a whole session ------------------------------------------------------------
FAULT_CASES = [("none", "power"), ("hang", "power"), ("drop", "power"), ("stale", "power"),
               ("sentinels", "power"), ("counter-wrap", "energy")]


FaultRun = tuple[dict[str, Any], SnmpPduSimulator, list[float], list[tuple[int, int]]]


def run_fault_session(out: Path, kind: str, source: str) -> FaultRun:
    sim = SnmpPduSimulator(PduData("raritan", [Outlet("1.1", 120, 2), Outlet("1.2", 80, 2)]),
                           faults=[] if kind == "none" else [Fault(kind)], outage_s=2.5, v3_user="director")
    port = sim.start()

    async def main() -> dict[str, Any]:
        config = Config(PtdConfig(interval_ms=500, reply_timeout_s=1.0),
                        SessionConfig(settle_s=0.2, poll_interval_s=0.25, reconnect_timeout_s=30))
        meter = SnmpPduAnalyzer("127.0.0.1", port, family="raritan", outlets=["1.1", "1.2"], credentials=V3,
                                timeout_s=1.0, source=source)
        sut = InProcessLoadgen(CpuBenchmark("Offline", 3.0, accelerator=True))
        session = Session(config, meter, sut, out_root=out,
                          label=f"snmp-{kind}", say=lambda _: None)
        return (await session.run()).to_json()

    try:
        report = asyncio.run(main())
    finally:
        sim.close()
    (session_dir,) = out.glob(f"*_snmp-{kind}")
    (raw,) = (session_dir / "raw").glob("snmp-*.samples.txt")
    meta = json.loads((session_dir / "session.json").read_text())
    phases = [(int(p["times"][1][0] * 1e9), int(p["times"][-1][0] * 1e9)) for p in meta["phases"].values()]
    # a reply served after the driver's request timed out (a slow emulator on a busy machine)
    # never reached it: the session recorded the outage
    sim.outages += [(g["lost_t_ns"] - 500_000_000, g["back_t_ns"] + 1_000_000_000)
                    for g in meta.get("reconnects", [])]
    return report, sim, [float(w) for w in read_spl(raw).watts], phases


@pytest.mark.parametrize(("kind", "source"), FAULT_CASES)
def test_every_fault_ends_with_a_report_and_no_served_reading_is_lost(tmp_path: Path, kind: str,
                                                                       source: str) -> None:
    report, sim, kept, phases = run_fault_session(tmp_path, kind, source)
    assert sim.events == ([] if kind == "none" else [kind])
    if kind == "none":
        assert report["valid"], report["problems"]
    assert report["grade"]["label"] == "informative"
    measured = [s for s in sim.served if any(a <= s.read_t_ns <= b for a, b in phases)
                and not any(a <= s.read_t_ns <= b for a, b in sim.outages)]
    if source == "energy":
        assert len(kept) >= len({s.energies for s in measured}) - len(phases)
        assert all(0 < w < 1000 for w in kept)  # the wrap did not make a huge or negative power
        return
    kept_values = {round(w, 3) for w in kept}
    served = [float(sum(v for v in s.powers if v is not None)) for s in measured if None not in s.powers]
    # (a frozen agent's repeats from the STALE_POLLS-th on are not new samples, but their value is kept)
    assert [w for w in served if round(w, 3) not in kept_values] == []
    if kind == "stale":
        assert len(kept) < len(measured)  # the frozen repeats were dropped
    if kind == "sentinels":
        missing = sum(1 for s in measured if None in s.powers)
        assert missing >= 1 and kept.count(-1.0) >= 1
