"""Plug payloads people actually get (tests/fixtures/plug_real.py), through a real mosquitto:
the drivers read them, and the plug simulator publishes the same shapes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.meters.plug import MqttPlug
from analyzer_drivers.meters.plug_shelly import ShellyGen1Plug, ShellyPlug
from analyzer_drivers.meters.plug_tasmota import TasmotaPlug
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.plug import PlugSimulator
from tests.fixtures import plug_real as real
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
MODEL = constant_model(150.3, volts=229.8, pf=0.97)


def notify(component: str, status: str) -> str:
    """A Gen2+ NotifyStatus event around a component status (shelly-api-docs gen2
    "Notifications": src, dst, method NotifyStatus, params with ts and the component)."""
    return ('{"src":"shellypro3em-c8f09e8866f0","dst":"plug/events","method":"NotifyStatus",'
            f'"params":{{"ts":1678699604.84,"{component}":{status}}}}}')


async def replayed(broker: Mosquitto, plug: MqttPlug, messages: list[tuple[str, str]]) -> list[Sample]:
    """Start measuring, publish ``messages`` as the device would, stop; the samples."""
    async with plug, aiomqtt.Client("127.0.0.1", broker.port) as device:
        await plug.start("m", 1000)
        await asyncio.sleep(0.2)
        for topic, payload in messages:
            await device.publish(topic, payload)
        await asyncio.sleep(0.5)
        await plug.stop()
        return await plug.poll()


def watts_of(broker: Mosquitto, plug: MqttPlug, messages: list[tuple[str, str]]) -> list[float]:
    return [s.watts for s in asyncio.run(asyncio.wait_for(replayed(broker, plug, messages), 30))]


# --- Tasmota --------------------------------------------------------------------------------
def test_tasmota_single_channel_sensor(broker: Mosquitto) -> None:
    plug = TasmotaPlug(broker.address, "sonoff-pow")
    assert watts_of(broker, plug, [("tele/sonoff-pow/SENSOR", real.TASMOTA_SENSOR)]) == [
        real.TASMOTA_SENSOR_WATTS]


@pytest.mark.parametrize(
    ("payload", "channel", "watts"),
    [(real.TASMOTA_STATUS10_3CH, "sum", 1.0), (real.TASMOTA_STATUS10_3CH, "1", 1.0),
     (real.TASMOTA_STATUS10_2CH, "sum", 69.0), (real.TASMOTA_STATUS10_2CH, "2", 12.0)],
)
def test_tasmota_multi_channel_lists(broker: Mosquitto, payload: str, channel: str, watts: float) -> None:
    plug = TasmotaPlug(broker.address, "evcc", channel=channel)
    assert watts_of(broker, plug, [("stat/evcc/STATUS10", payload)]) == [watts]


def test_tasmota_channel_beyond_the_device_is_an_error_reading(broker: Mosquitto) -> None:
    plug = TasmotaPlug(broker.address, "evcc", channel="4")
    assert watts_of(broker, plug, [("stat/evcc/STATUS10", real.TASMOTA_STATUS10_3CH)]) == [-1.0]
    assert "channel 4 asked for, but the plug reports 3" in plug.gaps[-1][1]


def test_a_sensor_message_without_energy_is_ignored(broker: Mosquitto) -> None:
    plug = TasmotaPlug(broker.address, "sonoff")
    messages = [("tele/sonoff/SENSOR", real.TASMOTA_SENSOR_SWITCHES),
                ("tele/sonoff/SENSOR", real.TASMOTA_SENSOR)]
    assert watts_of(broker, plug, messages) == [real.TASMOTA_SENSOR_WATTS]
    assert plug.gaps == []


def test_a_custom_full_topic(broker: Mosquitto) -> None:
    plug = TasmotaPlug(broker.address, "sonoff-pow", full_topic="tasmota/%topic%/%prefix%/")
    messages = [("tele/sonoff-pow/SENSOR", real.TASMOTA_SENSOR.replace("145", "1")),
                ("tasmota/sonoff-pow/tele/SENSOR", real.TASMOTA_SENSOR)]
    assert watts_of(broker, plug, messages) == [real.TASMOTA_SENSOR_WATTS]
    with pytest.raises(AnalyzerError, match="must hold %prefix% and %topic%"):
        TasmotaPlug(broker.address, "x", full_topic="tasmota/%topic%/")


# --- Shelly ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("component", "status", "watts"),
    [("pm1:0", real.SHELLY_PM1, real.SHELLY_PM1_WATTS), ("em:0", real.SHELLY_EM, real.SHELLY_EM_WATTS),
     ("em1:1", real.SHELLY_EM1[1], real.SHELLY_EM1_1_WATTS), ("em1:0", real.SHELLY_EM1[0], 0.0)],
)
def test_shelly_gen2_components(broker: Mosquitto, component: str, status: str, watts: float) -> None:
    plug = ShellyPlug(broker.address, "plug", component=component)
    other = "em1:0" if component == "em1:1" else "switch:0"  # another component: not ours
    messages = [("plug/events/rpc", notify(other, '{"id":0,"apower":7.0,"act_power":7.0}')),
                ("plug/events/rpc", notify(component, status))]
    assert watts_of(broker, plug, messages) == [watts]


def test_shelly_switch_with_an_id_other_than_0(broker: Mosquitto) -> None:
    status = '{"id":1,"output":true,"apower":38.5,"voltage":229.8,"current":0.174,"pf":0.96}'
    plug = ShellyPlug(broker.address, "plug", component="switch:1")
    messages = [("plug/events/rpc", notify("switch:0", status.replace("38.5", "1.0"))),
                ("plug/events/rpc", notify("switch:1", status))]
    assert watts_of(broker, plug, messages) == [38.5]


def test_shelly_gen1_relay_power(broker: Mosquitto) -> None:
    device = real.SHELLY_GEN1_DEVICE
    plug = ShellyGen1Plug(broker.address, device)
    messages = [(f"shellies/{device}/relay/1/power", "9.00"), (f"shellies/{device}/relay/0/power", "145.20")]
    assert watts_of(broker, plug, messages) == [145.2]


def test_bad_shelly_components_are_clear_errors() -> None:
    with pytest.raises(AnalyzerError, match="component 'meter:0' is not one of switch:<id>"):
        ShellyPlug("127.0.0.1:1883", "plug", component="meter:0")
    with pytest.raises(AnalyzerError, match="is a Gen1 one"):
        ShellyPlug("127.0.0.1:1883", "plug", component="relay:0")


# --- the simulator publishes the same shapes ------------------------------------------------
def keys(payload: str, *path: str) -> set[str]:
    value: Any = json.loads(payload)
    for key in path:
        value = value[key]
    return set(value)


def test_the_simulators_payloads_have_the_real_fields() -> None:
    sim = PlugSimulator("127.0.0.1", 1, "tasmota", "t", MODEL, channels=3)
    energy = json.loads(sim.telemetry()[1])["ENERGY"]
    real_energy = json.loads(real.TASMOTA_STATUS10_3CH)["StatusSNS"]["ENERGY"]
    assert set(energy) <= set(real_energy)
    lists = {k for k in energy if isinstance(energy[k], list)}
    assert lists == {k for k in energy if isinstance(real_energy[k], list)}
    single = json.loads(PlugSimulator("127.0.0.1", 1, "tasmota", "t", MODEL).telemetry()[1])
    # (ApparentPower and ReactivePower: in the 2025 payload, not in the 2018 one)
    assert set(single["ENERGY"]) <= keys(real.TASMOTA_SENSOR, "ENERGY") | set(real_energy)
    assert "Time" in single
    for component, status in (("pm1:0", real.SHELLY_PM1), ("em:0", real.SHELLY_EM),
                              ("em1:1", real.SHELLY_EM1[1])):
        shelly = PlugSimulator("127.0.0.1", 1, "shelly", "p", MODEL, component=component)
        assert set(shelly.shelly_status(shelly._reading())) == keys(status), component
    gen1 = PlugSimulator("127.0.0.1", 1, "shelly", real.SHELLY_GEN1_DEVICE, MODEL, component="relay:0")
    topic, payload = gen1.telemetry()
    assert topic == f"shellies/{real.SHELLY_GEN1_DEVICE}/relay/0/power" and float(payload) == 150.3


@contextlib.asynccontextmanager
async def running(simulator: PlugSimulator) -> AsyncIterator[PlugSimulator]:
    task = asyncio.get_running_loop().create_task(simulator.run())
    await asyncio.wait_for(simulator.ready.wait(), 5)
    try:
        yield simulator
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


@pytest.mark.parametrize(
    ("kind", "options", "driver", "watts"),
    [
        ("tasmota", {"channels": 2}, {"channel": "sum"}, {150.0}),
        ("tasmota", {"channels": 2}, {"channel": "1"}, {100.0}),
        ("tasmota", {"full_topic": "tasmota/%topic%/%prefix%/"},
         {"full_topic": "tasmota/%topic%/%prefix%/"}, {150.0}),
        ("shelly", {"component": "pm1:0"}, {"component": "pm1:0"}, {150.3}),
        ("shelly", {"component": "em:0"}, {"component": "em:0"}, {150.3}),
        ("shelly", {"component": "em1:1"}, {"component": "em1:1"}, {150.3}),
        ("shelly", {"component": "switch:2"}, {"component": "switch:2"}, {150.3}),
        ("shelly", {"component": "relay:0"}, {"component": "relay:0"}, {150.3}),
    ],
)
def test_the_driver_reads_every_simulated_form(
    broker: Mosquitto, kind: str, options: dict[str, Any], driver: dict[str, str], watts: set[float]
) -> None:
    async def main() -> tuple[str, set[float]]:
        simulator = PlugSimulator("127.0.0.1", broker.port, kind, "dev-1", MODEL, period_s=0.2, **options)
        plug: MqttPlug
        if kind == "tasmota":
            plug = TasmotaPlug(broker.address, "dev-1", **driver)
        elif driver["component"].startswith("relay"):
            plug = ShellyGen1Plug(broker.address, "dev-1", **driver)
        else:
            plug = ShellyPlug(broker.address, "dev-1", **driver)
        async with running(simulator), plug:
            info = await plug.identify()
            await plug.start("m", 250)
            await asyncio.sleep(1.0)
            await plug.stop()
            return info.version, {s.watts for s in await plug.poll()}

    version, got = asyncio.run(asyncio.wait_for(main(), 30))
    assert version and got == watts
