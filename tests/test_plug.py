"""Smart-plug drivers and the plug simulator on a real mosquitto broker on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import math
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from analyzer_drivers.meters.plug import MqttPlug
from analyzer_drivers.meters.plug_shelly import ShellyPlug
from analyzer_drivers.meters.plug_tasmota import TasmotaPlug
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.plug import PlugSimulator
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto, free_port

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)

PLUGS: dict[str, type[MqttPlug]] = {"tasmota": TasmotaPlug, "shelly": ShellyPlug}
MODEL = constant_model(150.3, volts=229.8, pf=0.97)


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


async def measure(plug: MqttPlug, seconds: float, interval_ms: int = 250) -> list[Sample]:
    await plug.start("m", interval_ms)
    await asyncio.sleep(seconds)
    await plug.stop()
    return await plug.poll()


@pytest.mark.parametrize("kind", ["tasmota", "shelly"])
def test_identify_and_readings_from_pushes_and_polls(broker: Mosquitto, kind: str) -> None:
    async def main() -> tuple[str, list[Sample], float | None]:
        simulator = PlugSimulator("127.0.0.1", broker.port, kind, f"{kind}-1", MODEL, period_s=0.2)
        async with running(simulator), PLUGS[kind](broker.address, f"{kind}-1") as plug:
            info = await plug.identify()
            samples = await measure(plug, 1.0)
            return info.version, samples, await plug.uncertainty()

    version, samples, uncertainty = asyncio.run(main())
    assert version  # the firmware version the plug reported
    # ~5 pushes (0.2 s) + ~4 poll answers (0.25 s) in 1 s
    assert 4 <= len(samples) <= 12
    stamps = [s.t_ns for s in samples]
    assert stamps == sorted(stamps)
    if kind == "tasmota":  # whole watts and volts
        assert {(s.watts, s.volts, s.amps) for s in samples} == {(150.0, 230.0, 0.674)}
    else:  # NotifyStatus sends voltage only when it changes: the driver keeps the state
        assert {(s.watts, s.volts, s.amps, s.pf) for s in samples} == {(150.3, 229.8, 0.674, 0.97)}
    assert uncertainty is not None and 0.01 < uncertainty < 0.03


def test_offline_plug_leaves_a_gap_and_its_return_resumes_samples(broker: Mosquitto) -> None:
    """Kill the simulator process: the broker publishes its last will (Offline)."""

    def start_sim() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "power_director.cli", "sim", "plug", "--broker", broker.address,
             "--kind", "tasmota", "--topic", "lwt-1", "--period-s", "0.2"],
            stdout=subprocess.DEVNULL,
        )

    async def main() -> tuple[list[Sample], list[tuple[int, str]], int, int]:
        first = start_sim()
        try:
            async with TasmotaPlug(broker.address, "lwt-1") as plug:
                await asyncio.wait_for(_until(lambda: plug.online is True), 10)
                await plug.start("m", 250)
                await asyncio.sleep(0.6)
                killed_ns = time.time_ns()
                first.kill()
                await asyncio.wait_for(_until(lambda: plug.online is False), 5)
                await asyncio.sleep(0.5)
                back_ns = time.time_ns()
                second = start_sim()
                try:
                    await asyncio.wait_for(_until(lambda: plug.online is True), 10)
                    await asyncio.sleep(0.6)
                    await plug.stop()
                finally:
                    second.kill()
                    second.wait()
                return await plug.poll(), plug.gaps, killed_ns, back_ns
        finally:
            first.kill()
            first.wait()

    samples, gaps, killed_ns, back_ns = asyncio.run(main())
    errors = [s for s in samples if s.watts == ERROR_READING]
    assert len(errors) == 1 and errors[0].t_ns > killed_ns
    assert any("offline" in why for _, why in gaps)
    assert any(s.is_valid for s in samples if s.t_ns < killed_ns)
    assert any(s.is_valid for s in samples if s.t_ns > back_ns)
    assert not [s for s in samples if errors[0].t_ns < s.t_ns < back_ns]  # a gap: nothing while offline


def test_broker_restart_leaves_a_gap_and_the_driver_reconnects(tmp_path: Path) -> None:
    mosquitto = Mosquitto(tmp_path).start()

    async def main() -> tuple[list[Sample], int]:
        plug = ShellyPlug(mosquitto.address, "re-1", reconnect_delay_s=0.2)
        simulator = PlugSimulator("127.0.0.1", mosquitto.port, "shelly", "re-1", MODEL, period_s=0.2)
        async with plug:
            async with running(simulator):
                await plug.start("m", 250)
                await asyncio.sleep(0.5)
                mosquitto.stop()
                await asyncio.wait_for(_until(lambda: plug.gaps != []), 5)
            restart_ns = time.time_ns()
            mosquitto.start()
            simulator = PlugSimulator("127.0.0.1", mosquitto.port, "shelly", "re-1", MODEL, period_s=0.2)
            async with running(simulator):
                await asyncio.sleep(1.0)
                await plug.stop()  # before the simulator leaves: its going offline is a gap too
            return await plug.poll(), restart_ns

    try:
        samples, restart_ns = asyncio.run(main())
    finally:
        mosquitto.stop()
    # The outage is one gap; the first simulator's last will can add a second, depending on
    # the order in which the restarted broker delivers it and the new simulator's readings.
    assert 1 <= [s.watts for s in samples].count(ERROR_READING) <= 2
    assert sum(s.is_valid for s in samples if s.t_ns > restart_ns) >= 3
    assert all(s.is_valid for s in samples[-3:])  # reconnected: readings flow again


def test_garbage_readings_become_error_samples(broker: Mosquitto) -> None:
    async def main() -> list[Sample]:
        async with TasmotaPlug(broker.address, "junk-1") as plug:
            await plug.start("m", 10_000)
            async with aiomqtt.Client("127.0.0.1", broker.port) as other:
                await other.publish("tele/junk-1/SENSOR", b"\xff not json")
                await other.publish("tele/junk-1/SENSOR", '{"ENERGY": {"Power": 42.5, "Voltage": 231}}')
                await other.publish("tele/junk-1/SENSOR", '{"ENERGY": {"Power": "lots"}}')
            await asyncio.sleep(0.5)
            await plug.stop()
            return await plug.poll()

    samples = asyncio.run(main())
    assert [s.watts for s in samples] == [ERROR_READING, 42.5, ERROR_READING]
    assert samples[1].volts == 231.0 and math.isnan(samples[1].amps)


def test_unreachable_broker_and_silent_plug_give_clear_errors(broker: Mosquitto) -> None:
    async def main() -> None:
        with pytest.raises(AnalyzerError, match=r"cannot connect to MQTT broker 127.0.0.1:\d+"):
            await TasmotaPlug(f"127.0.0.1:{free_port()}", "x", connect_timeout_s=2).connect()
        async with ShellyPlug(broker.address, "nobody-home", reply_timeout_s=0.5) as plug:
            with pytest.raises(AnalyzerError, match=r"did not answer Shelly\.GetDeviceInfo within 0\.5 s"):
                await plug.identify()
        with pytest.raises(AnalyzerError, match="is not HOST:PORT"):
            TasmotaPlug("127.0.0.1:notaport", "x")
        with pytest.raises(AnalyzerError, match="without # \\+"):
            TasmotaPlug(broker.address, "tele/#")

    asyncio.run(main())


async def _until(condition: object) -> None:
    assert callable(condition)
    while not condition():
        await asyncio.sleep(0.02)
