"""Live telemetry over a real mosquitto broker during a real demo session (LoadGen + simulator)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.cli.demo import run_demo
from power_director.observe.telemetry import MqttTelemetry
from tests.conftest import run_cli
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
LAB = "test-lab"


async def _subscribe(broker: Mosquitto, got: list[tuple[str, bytes]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(f"power-director/{LAB}/#", qos=1)
        ready.set()
        async for message in client.messages:
            got.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]


async def _measure_with_subscriber(broker: Mosquitto, out: Path) -> tuple[dict[str, Any], MqttTelemetry,
                                                                          list[tuple[str, bytes]]]:
    got: list[tuple[str, bytes]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_subscribe(broker, got, ready))
    await asyncio.wait_for(ready.wait(), 10)
    async with MqttTelemetry(broker.address, LAB) as telemetry:
        (typed,) = await run_demo(out, 1.0, lambda _t: None, ("Offline",), observers=[telemetry])
        report = typed.to_json()
    await asyncio.sleep(0.5)
    listener.cancel()
    return report, telemetry, got


def test_subscriber_receives_state_samples_and_result(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        report, telemetry, got = asyncio.run(_measure_with_subscriber(broker, tmp_path / "runs"))
    finally:
        broker.stop()
    assert report["valid"] and telemetry.dropped == 0 and telemetry.published > 5
    root = f"power-director/{LAB}"
    assert (f"{root}/status", b"online") in got and (f"{root}/status", b"offline") in got
    states = [json.loads(p) for t, p in got if t == f"{root}/state"]
    assert states[0]["phase"] == "ranging"
    assert {"testing", "completed"} <= {s["phase"] for s in states}
    testing = [s for s in states if s["phase"] == "testing"]
    assert testing[-1]["expected_s"] > 0 and testing[-1]["expected_end"] > testing[-1]["time"] - 60
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    meta = json.loads((session / "session.json").read_text())
    driver = meta["analyzer"]["driver"]
    batches = [json.loads(p) for t, p in got if t == f"{root}/samples/{driver}"]
    # Every sample the session journalled went out over MQTT, in order, nothing dropped.
    assert sum(len(b["samples"]) for b in batches) == meta["samples"][driver]
    assert {b["phase"] for b in batches} == {"ranging", "testing"}
    (result,) = [json.loads(p) for t, p in got if t == f"{root}/result"]
    assert result == json.loads((session / "report.json").read_text())


class KillBrokerWhenTesting:
    """An observer that kills the broker as the testing phase starts."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        if phase == "testing":
            self.broker.stop()

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        pass

    def on_result(self, report: dict[str, Any]) -> None:
        pass


async def _measure_while_broker_dies(broker: Mosquitto, out: Path) -> tuple[dict[str, Any], MqttTelemetry]:
    async with MqttTelemetry(broker.address, LAB, queue_size=10, flush_timeout_s=1.0) as telemetry:
        observers = [KillBrokerWhenTesting(broker), telemetry]
        (typed,) = await run_demo(out, 1.0, lambda _t: None, ("Offline",), observers=observers)
        report = typed.to_json()
    return report, telemetry


def test_broker_killed_mid_session_leaves_the_measurement_alone(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        report, telemetry = asyncio.run(_measure_while_broker_dies(broker, tmp_path / "runs"))
    finally:
        broker.stop()
    assert report["valid"], report["problems"]
    assert telemetry.dropped > 0 and telemetry.connection_errors > 0
    assert telemetry.published > 0  # it did publish before the broker died
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    meta = json.loads((session / "session.json").read_text())
    driver = meta["analyzer"]["driver"]
    journalled = len((session / "raw" / f"{driver}.samples.txt").read_text().splitlines())
    assert meta["samples"][driver] == journalled
    testing = report["testing"]["power"]
    # 200 ms sampling: the testing window is covered as without telemetry (no gap from the outage).
    assert testing["samples_in_window"] >= testing["duration_s"] / 0.2 - 2
    assert testing["coverage"]["longest_gap_s"] < 0.5
    assert report == json.loads((session / "report.json").read_text())


def test_demo_json_output_with_telemetry_to_a_dead_broker(tmp_path: Path) -> None:
    from tests.mqtt_broker import free_port

    result = run_cli("demo", "--out", str(tmp_path), "--seconds", "1", "--json",
                     "--broker", f"127.0.0.1:{free_port()}")
    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert [r["scenario"] for r in reports] == ["SingleStream", "Offline"]
    assert all(r["valid"] for r in reports)
    assert "telemetry: 0 messages" in result.stderr and "dropped" in result.stderr
    assert "Traceback" not in result.stderr
