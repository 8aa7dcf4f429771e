"""A plug session end to end (CLI, real mosquitto, the plug simulator, a real LoadGen run):
valid for comparison (exit 0), MLPerf-invalid with the reason, the plug's stated accuracy as the
±, and no ranges made up for a meter that has none."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer_drivers.meters.specs import PLUGS
from tests.conftest import CLI, run_cli
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)


@pytest.mark.parametrize("kind", ["tasmota", "shelly"])
def test_a_plug_session_is_valid_for_comparison_and_exits_0(tmp_path: Path, kind: str) -> None:
    broker = Mosquitto(tmp_path).start()
    plug = subprocess.Popen(
        [*CLI, "sim", "plug", "--broker", broker.address, "--kind", kind, "--topic", "desk",
         "--period-s", "0.2", "--idle-watts", "150", "--dynamic-watts", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.5)  # the simulator connects and announces itself
        config = tmp_path / "plug.toml"
        config.write_text(
            f'[analyzer]\ntype = "{kind}"\nbroker = "{broker.address}"\ntopic = "desk"\n'
            "interval_ms = 250\nconnect_timeout_s = 10.0\nreply_timeout_s = 3.0\n"
            "[session]\nsettle_s = 0.1\npoll_interval_s = 0.25\n"
        )
        result = run_cli(
            "run", "--config", str(config), "--out", str(tmp_path / "runs"), "--",
            sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "2",
            "--accelerator",
        )
    finally:
        plug.terminate()
        plug.wait(10)
        broker.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[valid (not MLPerf-valid)]" in output and " ± " in output
    assert "ranges none to set" in output and " A;" not in output  # no made-up ranges
    (session,) = (p for p in (tmp_path / "runs").iterdir() if p.is_dir())  # index.sqlite beside it
    report = json.loads((session / "report.json").read_text())
    assert report["valid"] and not report["mlperf_valid"] and report["problems"] == []
    grade = next(c for c in report["checks"] if c["name"] == "analyzer_grade")
    assert grade["status"] == "warning" and "not an MLPerf Power analyzer" in grade["reason"]
    assert report["ranges"]["testing"] == {"volts": None, "amps": None}
    # The analyzer term of the ± is the plug's stated accuracy at the measured power.
    spec = PLUGS[kind]
    avg_watts = report["power"]["avg_watts"]
    analyzer_w = report["uncertainty"]["terms_watts"]["analyzer"]
    assert analyzer_w == pytest.approx(spec.sample_uncertainty(avg_watts) * avg_watts, rel=0.05)
    assert "stated accuracy" in report["uncertainty"]["analyzer_source"]
