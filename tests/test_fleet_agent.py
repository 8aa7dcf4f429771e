"""Meter agents and the ``mqtt-stream`` meter: TLS and credentials on a real mosquitto, holes
asked for and replayed, a hole nobody can fill marked as a gap, the agent's journal, bad configs.

mosquitto's TLS/password options (cafile, certfile, keyfile, password_file, allow_anonymous) are
from the mosquitto.conf(5) manual page; QoS 1 delivery and retained messages from the MQTT 3.1.1
specification (OASIS, §4.3.2 and §3.3.1.3).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.sample import ERROR_READING, Sample
from power_director.cli.meter_agent import MeterAgent
from power_director.config.agent import agent_config_from_dict
from power_director.config.loader import ConfigError, config_from_dict
from power_director.fleet.journal import MeterJournal
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.wire import BrokerAuth, agent_topic, encode_samples
from tests.fleet_util import ROOT
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)


def _tls_broker(tmp_path: Path) -> tuple[Mosquitto, Path, Path]:
    cert, key, passwords, secret = (tmp_path / n for n in ("cert.pem", "key.pem", "passwd", "secret"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "node1", "s3cret"],
                   check=True, capture_output=True)
    secret.write_text("s3cret\n", encoding="utf-8")
    user = "user root\n" if os.geteuid() == 0 else ""  # read the files in this 0700 tmp dir
    options = (f"{user}allow_anonymous false\npassword_file {passwords}\n"
               f"certfile {cert}\nkeyfile {key}\n")
    return Mosquitto(tmp_path, listener_options=options).start(), cert, secret


def _agent(broker: str, journal: Path, auth: dict[str, str], **agent: Any) -> MeterAgent:
    data = {"agent": {"id": "node1", "broker": broker, "journal_dir": str(journal), **auth, **agent},
            "meter": [{"name": "psu1", "sim_watts": 220.0, "sim_dynamic_watts": 0.0, "interval_ms": 250}]}
    return MeterAgent(agent_config_from_dict(data), say=lambda _: None)


async def _measure(stream: MqttStreamAnalyzer, seconds: float) -> list[Sample]:
    async with stream:
        info = await stream.identify()
        assert info.model == "SIM" and info.extra == {"agent": "node1", "meter": "psu1"}
        await stream.start("m", 250)
        await asyncio.sleep(seconds)
        samples = await stream.poll()
        await stream.stop()
        return samples + await stream.poll()


@needs_broker
def test_tls_and_credentials(tmp_path: Path) -> None:
    broker, cert, secret = _tls_broker(tmp_path)
    auth = {"tls_ca": str(cert), "username": "node1", "password_file": str(secret)}

    async def main() -> list[Sample]:
        agent = _agent(broker.address, tmp_path / "journal", auth)
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        try:
            stream = MqttStreamAnalyzer(broker.address, "node1/psu1", auth=BrokerAuth(**auth),
                                        connect_timeout_s=15.0)
            samples = await _measure(stream, 2.0)
            for wrong, said in ((BrokerAuth(str(cert), "node1", str(tmp_path / "passwd")),  # a wrong password
                                 r"^MQTT broker 127\.0\.0\.1:\d+ refused user 'node1': not authorized"),
                                (BrokerAuth("", "node1", str(secret)),  # no TLS
                                 r"^cannot connect to MQTT broker 127\.0\.0\.1:\d+")):
                with pytest.raises(AnalyzerError, match=said):
                    await MqttStreamAnalyzer(broker.address, "node1/psu1", auth=wrong,
                                             connect_timeout_s=2.0).connect()
            assert agent.connected
            return samples
        finally:
            stop.set()
            await running

    try:
        samples = asyncio.run(main())
    finally:
        broker.stop()
    assert len(samples) >= 4
    assert all(s.watts == pytest.approx(220.0, rel=0.03) for s in samples)


class ScriptedAgent:
    """An agent that says exactly what a test wants: info, clock replies, chosen sequence numbers.
    It records the replay requests it gets and answers them only when told to."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.replays: list[dict[str, Any]] = []
        self.answer_replays = False
        self.sent: dict[int, Sample] = {}

    async def serve(self) -> None:
        async for message in self.client.messages:
            body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            if str(message.topic).endswith("/clock"):
                stamp = time.time_ns()
                reply = {"id": body["id"], "t2": stamp, "t3": stamp}
                await self.client.publish(body["reply"], json.dumps(reply))
            else:
                self.replays.append(body)
                if self.answer_replays:
                    rows = [(s, self.sent[s]) for s in range(body["from"], body["to"] + 1)]
                    await self.send_rows(rows)

    async def send_rows(self, rows: list[tuple[int, Sample]]) -> None:
        await self.client.publish(agent_topic("lab", "m1", "samples"), encode_samples(rows), qos=1)


Scripted = tuple[list[Sample], MqttStreamAnalyzer, ScriptedAgent]


async def _scripted(broker: Mosquitto, answer_replays: bool, gap: range) -> Scripted:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="scripted") as client:
        agent = ScriptedAgent(client)
        agent.answer_replays = answer_replays
        await client.subscribe(agent_topic("lab", "clock"))
        await client.subscribe(agent_topic("lab", "replay"), qos=1)
        await client.publish(agent_topic("lab", "m1", "info"), json.dumps({"model": "SIM", "name": "m1"}),
                             qos=1, retain=True)
        serving = asyncio.create_task(agent.serve())
        stream = MqttStreamAnalyzer(broker.address, "lab/m1", connect_timeout_s=5.0, reply_timeout_s=1.5)
        async with stream:
            await stream.identify()
            await stream.start("m", 100)
            now = time.time_ns()
            agent.sent = {seq: Sample(now + seq * 100_000_000, 100.0 + seq) for seq in range(1, 13)}
            await agent.send_rows([(s, agent.sent[s]) for s in range(1, 13) if s not in gap])
            await client.publish(agent_topic("lab", "m1", "samples"), b"garbage, not JSON", qos=1)
            samples: list[Sample] = []
            for _ in range(40):
                await asyncio.sleep(0.1)
                samples += await stream.poll()
                if len(samples) >= 12 - len(gap) + (0 if answer_replays else 1) and not stream._pending:
                    break
            serving.cancel()
            return samples, stream, agent


@needs_broker
def test_a_hole_is_asked_for_and_filled(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        samples, stream, agent = asyncio.run(_scripted(broker, True, range(5, 8)))
    finally:
        broker.stop()
    assert [s.watts for s in samples] == [100.0 + k for k in range(1, 13)]  # in order, none lost
    assert agent.replays[0] == {"meter": "m1", "from": 5, "to": 7}
    assert (stream.lost, stream.replayed) == (0, 3)


@needs_broker
def test_a_hole_nobody_fills_is_one_gap_and_counted_lost(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        samples, stream, agent = asyncio.run(_scripted(broker, False, range(5, 8)))
    finally:
        broker.stop()
    watts = [s.watts for s in samples]
    assert watts == [101.0, 102.0, 103.0, 104.0, ERROR_READING, *(100.0 + k for k in range(8, 13))]
    assert [s.t_ns for s in samples] == sorted(s.t_ns for s in samples)
    assert stream.lost == 3 and agent.replays
    assert stream.evidence().lost == 3


@needs_broker
def test_agent_replays_from_its_journal_on_request(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()

    async def main() -> list[list[Any]]:
        agent = _agent(broker.address, tmp_path / "journal", {})
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        try:
            while agent.meters["psu1"].published_seq < 6:
                await asyncio.sleep(0.1)
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe(agent_topic("node1", "samples"), qos=1)
                await client.publish(agent_topic("node1", "replay"),
                                     json.dumps({"meter": "psu1", "from": 2, "to": 4}), qos=1)
                async for message in client.messages:
                    rows = json.loads(bytes(message.payload))["meters"].get("psu1")  # type: ignore[arg-type]
                    if rows and rows[0][0] == 2:
                        return list(rows)
        finally:
            stop.set()
            await running
        raise AssertionError("unreachable")

    try:
        rows = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        broker.stop()
    lines = (tmp_path / "journal" / "psu1.samples.jsonl").read_text().splitlines()
    journal = [json.loads(line) for line in lines]
    assert rows == journal[1:4]


def test_journal_continues_numbering_and_reads_back_from_disk(tmp_path: Path) -> None:
    journal = MeterJournal(tmp_path, "psu1")
    for k in range(5):
        journal.append(Sample(1_000 + k, 10.0 + k, 230.0, 0.1, 1.0))
    journal.close()
    with (tmp_path / "psu1.samples.jsonl").open("a") as torn:
        torn.write("[6,10")  # a crash mid-line
    again = MeterJournal(tmp_path, "psu1")
    assert again.last_seq == 5
    assert [seq for seq, _ in again.rows(2, 4)] == [2, 3, 4]  # from the file: not in memory
    assert again.rows(2, 2)[0][1].watts == 11.0
    assert again.append(Sample(2_000, 1.0)) == 6
    again.close()


@pytest.mark.parametrize(("data", "message"), [
    ({"meter": [{"name": "a", "sim_watts": 1.0}]}, r"\[agent\] is missing"),
    ({"agent": {"id": "a/b"}, "meter": [{"name": "m"}]}, r"\[agent\] id 'a/b' must be"),
    ({"agent": {"id": "a", "broker": "h:0"}, "meter": [{"name": "m"}]}, r"broker 'h:0' is not HOST:PORT"),
    ({"agent": {"id": "a", "colour": 1}, "meter": [{"name": "m"}]}, r"unknown key 'colour'"),
    ({"agent": {"id": "a"}}, r"at least one \[\[meter\]\]"),
    ({"agent": {"id": "a"}, "meter": [{"name": "m", "sim_watts": -1}]}, r"sim_watts must be a number ≥ 0"),
    ({"agent": {"id": "a"}, "meter": [{"name": "m"}, {"name": "m"}]}, r"share a name"),
    ({"agent": {"id": "a"}, "meter": [{"name": "m", "type": "wattsup"}]}, r"type 'wattsup' is not known"),
])
def test_agent_config_errors_are_one_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        agent_config_from_dict(data)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("extra", "message"), [
    ({"analyzer": {"type": "mqtt-stream", "topic": "justone"}}, r"needs topic = \"AGENT/METER\""),
    ({"node": [{"name": "n1", "meters": []}]}, r"\[\[node\]\] n1: meters must be a non-empty list"),
    ({"node": [{"name": "n1", "meters": ["a"]}], "switch": [{"name": "s", "max_spec_watts": 100.0}]},
     r"provisioning_ratio ≤ 1"),
    ({"node": [{"name": "n1", "meters": ["a"]}], "switch": [{"name": "s", "meter": "a"}]},
     r"meter\(s\) a belong to more than one"),
    ({"switch": [{"name": "s", "meter": "a"}]}, r"\[\[switch\]\] tables need \[\[node\]\]"),
    ({"telemetry": {"prometheus_port": 70000}}, r"\[telemetry\] prometheus_port 70000 is not a TCP port"),
    ({"node": [{"name": "n1", "meters": ["a"]}, {"name": "n1", "meters": ["b"]}]}, r"share a name"),
])
def test_fleet_config_errors_are_one_line(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        config_from_dict(extra)
    assert "\n" not in str(caught.value)


def test_meter_agent_command_with_a_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nid = "x"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "power_director.cli", "meter-agent", "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "power-director: error: an agent needs at least one [[meter]] table"
    ]


def test_unreadable_credentials_are_one_line_errors(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-password")
    stream = MqttStreamAnalyzer("127.0.0.1:1", "a/m", auth=BrokerAuth("", "node1", missing))
    with pytest.raises(AnalyzerError, match=r"^cannot read the broker credentials for the meter 'm'"):
        asyncio.run(stream.connect())
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nid = "x"\nusername = "u"\npassword_file = "{missing}"\n'
                      '[[meter]]\nname = "m"\nsim_watts = 10.0\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "power_director.cli", "meter-agent", "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("power-director: error: [agent] cannot read the broker credentials")


@needs_broker
def test_run_without_the_agent_is_a_one_line_error(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    config = tmp_path / "director.toml"
    config.write_text(f'[analyzer]\ntype = "mqtt-stream"\nbroker = "{broker.address}"\ntopic = "gone/psu1"\n'
                      'connect_timeout_s = 2.0\n', encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "power_director.cli", "run", "--config", str(config), "--out",
             str(tmp_path / "runs"), "--quiet", "--", sys.executable, "-c", "pass"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
        )
    finally:
        broker.stop()
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "meter 'psu1' of agent 'gone'" in lines[0]
    assert "has published no info within 2 s (is the agent running?)" in lines[0]
