"""Nobody but the agent can change its samples: a rogue client on a real mosquitto publishes
well-formed samples on an agent's topics during testing. With signing keys every such message is
refused and counted (``forged``) and the result is unchanged; with the ACL example of
examples/agent/ the broker itself drops them.

mosquitto's ``acl_file``, ``topic``/``pattern`` lines and ``%u`` are from mosquitto.conf(5) as
installed with mosquitto 2.0.11 (Debian); HMAC-SHA256 is RFC 2104 with SHA-256 (Python's hmac).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import config_from_dict
from power_director.fleet.sign import sign
from power_director.fleet.wire import agent_topic, encode_samples
from power_director.session.session import ExtraMeter, Session
from reports.spl import read_spl
from tests.fleet_util import ROOT, agent_toml, journal_rows, start_agent, stop_agents, wait_connected
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
METERS = [("psu1", 310.0), ("psu2", 290.0)]
KEY = "7f3a" * 16  # 64 characters, as ``openssl rand -hex 32`` writes
ROGUE_WATTS = 5000.0


class Rogue:
    """A session observer: 1 s into testing a rogue client publishes its attacks, each once, with
    the sequence numbers the agent will use next (read from its journal, as an insider could)."""

    def __init__(self, broker: Mosquitto, journal: Path, login: tuple[str, str] | None, copy: bool) -> None:
        self.broker, self.journal, self.login, self.copy = broker, journal, login, copy
        self.task: asyncio.Task[dict[str, int]] | None = None

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        if phase == "testing" and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._attack())

    async def _attack(self) -> dict[str, int]:
        """Per meter, how many messages were sent that a signing director must refuse."""
        await asyncio.sleep(1.0)
        sent = {"psu1": 0, "psu2": 0}
        user, password = self.login or (None, None)
        async with aiomqtt.Client("127.0.0.1", self.broker.port, identifier="rogue", username=user,
                                  password=password) as client:
            genuine = await self._genuine(client) if self.copy else b""
            for meter in sent:
                topic = agent_topic("a1", meter, "samples")
                seq = journal_rows(self.journal, meter)[-1][0]
                rows = [(seq + k, Sample(time.time_ns() + k, ROGUE_WATTS)) for k in range(1, 4)]
                attacks = [
                    encode_samples(rows),  # unsigned, the next sequence numbers
                    sign("a1", b"x" * 64, topic, encode_samples(rows)),  # the agent's key id, a wrong key
                    sign("rogue", KEY.encode(), topic, encode_samples(rows)),  # an unknown key id
                ]
                if meter == "psu2" and genuine:
                    attacks.append(genuine)  # a1's genuine signed batch moved to psu2's own topic
                for attack in attacks:
                    await client.publish(topic, attack, qos=1)
                sent[meter] += len(attacks)
            if genuine:
                await client.publish(agent_topic("a1", "samples"), genuine, qos=1)  # a replay
        return sent

    async def _genuine(self, client: aiomqtt.Client) -> bytes:
        await client.subscribe(agent_topic("a1", "samples"), qos=1)
        message = await asyncio.wait_for(anext(aiter(client.messages)), 10)
        return bytes(message.payload)

    def on_samples(self, analyzer: str, samples: Any) -> None:
        """Not needed."""

    def on_result(self, report: Any) -> None:
        """Not needed."""


def _session(
    broker: Mosquitto, out: Path, rogue: Rogue, stream: dict[str, str]
) -> tuple[dict[str, Any], Path]:
    meters = [{"type": "mqtt-stream", "broker": broker.address, "topic": f"a1/{m}", "interval_ms": 500,
               "connect_timeout_s": 20.0, "reply_timeout_s": 5.0, **stream} for m, _ in METERS]
    config = config_from_dict({"analyzer": meters[0], "extra_analyzer": [{**meters[1], "role": "sum"}],
                               "session": {"settle_s": 0.2, "poll_interval_s": 0.25}})

    async def main() -> tuple[dict[str, Any], Path]:
        session = Session(config, make_analyzer(config.analyzer),
                          InProcessLoadgen(CpuBenchmark("Offline", 4.0, accelerator=True)),
                          out_root=out, say=lambda _: None, observers=[rogue],
                          extra_analyzers=[ExtraMeter(make_analyzer(e.meter), e.role)
                                           for e in config.extra_analyzers])
        return (await session.run()).to_json(), session.dir

    return asyncio.run(main())


def _unchanged(tmp_path: Path, report: dict[str, Any], session_dir: Path) -> dict[str, Any]:
    """The result is the agent's alone: its power, and raw samples equal to its journal."""
    meta = json.loads((session_dir / "session.json").read_text())
    testing = meta["phases"]["testing"]
    assert report["testing"]["power"]["avg_watts"] == pytest.approx(600.0, rel=0.01)
    for driver, evidence in testing["meters"].items():
        raw = read_spl(session_dir / "raw" / f"{driver}.samples.txt").with_mark(testing["mark"])
        assert ROGUE_WATTS not in set(raw.watts.tolist()), driver
        offset_ns = evidence["clock"]["offset_ns"]
        first_ns, last_ns = raw.t_ns[0] + offset_ns - 2e6, raw.t_ns[-1] + offset_ns + 2e6
        journaled = [round(r[2], 2) for r in journal_rows(tmp_path / "journal", evidence["meter"])
                     if first_ns <= r[1] <= last_ns]
        assert [round(float(w), 2) for w in raw.watts] == journaled, driver
    return dict(testing["meters"])


def test_signed_samples_hold_against_a_rogue_publisher(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    key = tmp_path / "a1.key"
    key.write_text(KEY + "\n", encoding="utf-8")
    agent = start_agent(tmp_path, "a1", agent_toml("a1", broker.address, tmp_path / "journal", METERS,
                                                   extra=f'signing_key_file = "{key}"'))
    rogue = Rogue(broker, tmp_path / "journal", None, copy=True)
    try:
        wait_connected(tmp_path, ["a1"])
        report, session_dir = _session(broker, tmp_path / "runs", rogue, {"signing_key_file": str(key)})
    finally:
        codes = stop_agents([agent])
        broker.stop()
    assert codes == [0]
    assert rogue.task is not None and rogue.task.done()
    sent = rogue.task.result()
    meters = _unchanged(tmp_path, report, session_dir)
    assert report["valid"], [c for c in report["checks"] if c["status"] == "fail"]
    psu1, psu2 = meters["stream-a1-psu1"], meters["stream-a1-psu2"]
    assert (psu1["forged"], psu2["forged"]) == (sent["psu1"], sent["psu2"]) == (3, 4)
    assert psu1["forged_why"] == {"unsigned": 1, "wrong signature": 1, "unknown key id": 1}
    assert psu2["forged_why"] == {"unsigned": 1, "wrong signature": 2, "unknown key id": 1}
    assert psu1["duplicates"] >= 1  # the replayed genuine message: its numbers were taken
    assert psu1["lost"] == psu2["lost"] == 0


def test_the_acl_example_lets_the_broker_refuse_a_rogue(tmp_path: Path) -> None:
    """Without signing keys: the broker with examples/agent/mosquitto-acl.conf drops what user
    a2 publishes on a1's topics, so the director never sees it."""
    passwords = tmp_path / "passwd"
    users = {"a1": "pw-a1", "a2": "pw-a2", "director": "pw-director"}
    for k, (user, password) in enumerate(users.items()):
        create = ["-c"] if k == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwords), user, password],
                       check=True, capture_output=True)
    for user, password in users.items():
        (tmp_path / f"{user}.pw").write_text(password + "\n", encoding="utf-8")
    root = "user root\n" if os.geteuid() == 0 else ""
    acl = ROOT / "examples" / "agent" / "mosquitto-acl.conf"
    broker = Mosquitto(tmp_path, listener_options=f"{root}allow_anonymous false\npassword_file {passwords}\n"
                       f"acl_file {acl}\n").start()
    login = f'username = "a1"\npassword_file = "{tmp_path / "a1.pw"}"'
    toml = agent_toml("a1", broker.address, tmp_path / "journal", METERS, extra=login)
    agent = start_agent(tmp_path, "a1", toml)
    rogue = Rogue(broker, tmp_path / "journal", ("a2", "pw-a2"), copy=False)
    try:
        wait_connected(tmp_path, ["a1"])
        director = {"username": "director", "password_file": str(tmp_path / "director.pw")}
        report, session_dir = _session(broker, tmp_path / "runs", rogue, director)
    finally:
        codes = stop_agents([agent])
        broker.stop()
    assert codes == [0]
    assert rogue.task is not None and rogue.task.done()
    assert rogue.task.result() == {"psu1": 3, "psu2": 3}  # sent, and the broker dropped them
    meters = _unchanged(tmp_path, report, session_dir)
    assert report["valid"], [c for c in report["checks"] if c["status"] == "fail"]
    assert all(m["forged"] == 0 and m["lost"] == 0 for m in meters.values())
