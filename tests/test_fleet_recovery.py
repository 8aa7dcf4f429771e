"""The director of a fleet session is SIGKILLed mid-testing while the broker is down (so the
agents journal samples it never receives); ``power-director report DIR --config FILE`` pulls them
from the agents' journals: every sample they journaled while testing ran is in the session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from analyzer_drivers.formats.session_layout import ALIVE_FILE
from reports.mlperf.layout import read_events
from reports.spl import read_spl
from tests.conftest import CLI, run_cli
from tests.fleet_util import agent_toml, journal_rows, start_agent, stop_agents, wait_connected
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto
from tests.test_crash_recovery import wait_for_testing, workload

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
METERS = [("psu1", 310.0), ("psu2", 290.0)]


def _director_toml(broker: str) -> str:
    stream = f'type = "mqtt-stream"\nbroker = "{broker}"\ninterval_ms = 500\nconnect_timeout_s = 20.0\n'
    return (f'[analyzer]\n{stream}topic = "a1/psu1"\n'
            f'[[extra_analyzer]]\n{stream}topic = "a1/psu2"\nrole = "sum"\n'
            '[session]\nsettle_s = 0.2\npoll_interval_s = 0.25\nreconnect_timeout_s = 30.0\n')


def test_sigkilled_director_recovers_every_journaled_testing_sample(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    agent = start_agent(tmp_path, "a1", agent_toml("a1", broker.address, tmp_path / "journal", METERS))
    config = tmp_path / "director.toml"
    config.write_text(_director_toml(broker.address), encoding="utf-8")
    runs = tmp_path / "runs"
    try:
        wait_connected(tmp_path, ["a1"])
        command = [*CLI, "run", "--config", str(config), "--out", str(runs), "--", *workload(8)]
        director = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        session = wait_for_testing(runs)
        time.sleep(1.0)
        broker.stop()  # the agent keeps measuring and journaling; nothing reaches the director
        time.sleep(2.0)
        os.killpg(director.pid, signal.SIGKILL)  # the director and its workload, as in a crash
        director.wait(timeout=10)
        broker.start()
        result = run_cli("report", str(session), "--config", str(config), timeout=120)
    finally:
        codes = stop_agents([agent])
        broker.stop()
    assert codes == [0]
    assert "Traceback" not in result.stderr, result.stderr
    assert f"recovering {session.name} from the meter agents' journals" in result.stderr
    said = result.stderr.splitlines()
    added = [int(line.split(", ")[1].split()[0]) for line in said if "are added" in line]
    assert len(added) == 2 and all(n >= 2 for n in added), result.stderr  # the outage's samples, at least
    assert "still missing" not in result.stderr, result.stderr

    meta = json.loads((session / "session.json").read_text())
    mark = meta["phases"]["testing"]["mark"]
    began_ns = next(e["t_ns"] for e in read_events(session) if e.get("kind") == "phase_start"
                    and e.get("phase") == "testing")
    alive_ns = int((session / "raw" / ALIVE_FILE).read_text())
    for meter, _ in METERS:
        raw = read_spl(session / "raw" / f"stream-a1-{meter}.samples.txt").with_mark(mark).sorted_by_time()
        journaled = [r for r in journal_rows(tmp_path / "journal", meter) if began_ns <= r[1] <= alive_ns]
        assert len(journaled) >= 5, meter  # ~3 s of testing at 500 ms
        # Every journaled testing sample is in the session, once, with its value (the agent's clock
        # is this machine's: the measured offset is within a few ms).
        inside = (raw.t_ns >= began_ns - 5_000_000) & (raw.t_ns <= alive_ns + 5_000_000)
        assert [round(float(w), 2) for w in raw.watts[inside]] == [round(r[2], 2) for r in journaled], meter
    report = json.loads((session / "report.json").read_text())
    assert report["valid"] is False  # the director did not finish: no testing LoadGen log
    assert report["recovered"]["samples"]["testing"]["stream-a1-psu1"] >= len(journaled)
