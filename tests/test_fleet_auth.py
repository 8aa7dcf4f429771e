"""A broker that refuses us, by reason: a wrong password for the director and for an agent (which
gives up after ``max_refused_logins`` and exits 2, its journal kept), on a real mosquitto.

mosquitto's ``password_file``/``allow_anonymous`` options are from the mosquitto.conf(5) manual
page; the CONNACK return codes (4 bad user name or password, 5 not authorized) from MQTT 3.1.1
(OASIS, 2014) §3.2.2.3, which paho-mqtt 2 reports as MQTT 5.0's reason codes 0x86/0x87 (OASIS,
2019, §2.4).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer_drivers.base import AnalyzerError
from power_director.fleet.mqtt_stream import MqttStreamAnalyzer
from power_director.fleet.wire import BrokerAuth
from tests.fleet_util import ROOT, agent_toml, journal_rows
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
REFUSED = r"(not authorized \(reason code 135\)|bad user name or password \(reason code 134\))"


def password_broker(tmp_path: Path, extra: str = "") -> Mosquitto:
    """mosquitto with users node1/director (passwords s3cret/d1rector), no anonymous clients."""
    passwords = tmp_path / "passwd"
    for k, (user, password) in enumerate((("node1", "s3cret"), ("director", "d1rector"))):
        create = ["-c"] if k == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwords), user, password],
                       check=True, capture_output=True)
    user = "user root\n" if os.geteuid() == 0 else ""  # read the files in this 0700 tmp dir
    return Mosquitto(tmp_path, listener_options=f"{user}allow_anonymous false\npassword_file {passwords}\n"
                     + extra).start()


def test_director_names_a_refused_login(tmp_path: Path) -> None:
    broker = password_broker(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n", encoding="utf-8")
    try:
        for auth in (BrokerAuth("", "director", str(wrong)), BrokerAuth()):
            stream = MqttStreamAnalyzer(broker.address, "node1/psu1", auth=auth, connect_timeout_s=30.0)
            with pytest.raises(AnalyzerError) as caught:
                asyncio.run(stream.connect())
            message = str(caught.value)
            who = "user 'director'" if auth.username else "an anonymous client"
            assert message.startswith(f"MQTT broker {broker.address} refused {who}: "), message
            assert "\n" not in message
            assert re.search(REFUSED, message), message
    finally:
        broker.stop()


def test_agent_gives_up_after_refused_logins_and_keeps_its_journal(tmp_path: Path) -> None:
    broker = password_broker(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n", encoding="utf-8")
    config = tmp_path / "agent.toml"
    login = f'username = "node1"\npassword_file = "{wrong}"\nmax_refused_logins = 3'
    toml = agent_toml("node1", broker.address, tmp_path / "journal", [("psu1", 200.0)], extra=login)
    config.write_text(toml, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "power_director.cli", "meter-agent", "--config", str(config)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
        )
    finally:
        broker.stop()
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"power-director: error: agent node1: MQTT broker {broker.address} refused user "
                           "'node1': "), last
    assert re.search(REFUSED, last), last
    assert "giving up after 3 refusals in a row (max_refused_logins)" in last
    earlier = [line for line in done.stdout.splitlines() if "refused user 'node1'" in line]
    assert [line.endswith(f"({k} of 3)") for k, line in enumerate(earlier, start=1)] == [True, True]
    assert (tmp_path / "journal" / "psu1.samples.jsonl").is_file()  # closed, not removed
    assert all(len(row) == 6 for row in journal_rows(tmp_path / "journal", "psu1"))
