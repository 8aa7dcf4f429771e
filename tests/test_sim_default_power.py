"""``sim ptd``'s default load does not follow the machine: a ``run`` against it on a busy,
shared machine is not judged "testing power 5 % below ranging" by chance.

Before, the default followed the whole machine's CPU, so other programs' load in ranging and
not in testing failed the run (seen −26.9 %). Here CPU hogs run throughout, and two more only
while the ranging phase runs (the workload starts them when ``POWER_DIRECTOR_PHASE`` says
ranging): the load the machine carries differs between the phases as much as a test can make
it. The CPU model stays on request (``--power cpu``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, run_cli
from tests.remote_util import process, wait_for_line

HOG = "while True: pass"
#: The workload: CPU hogs of its own in the ranging phase only, then the built-in SUT.
WORKLOAD = f"""
import os, subprocess, sys
hogs = [subprocess.Popen([sys.executable, "-c", {HOG!r}]) for _ in range(2)
        if os.environ.get("POWER_DIRECTOR_PHASE") == "ranging"]
try:
    code = subprocess.call([sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                            "--seconds", "1.5", "--accelerator"])
finally:
    for hog in hogs:
        hog.kill()
        hog.wait()
sys.exit(code)
"""


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two CPU hogs for the whole test."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_run_against_the_default_sim_on_a_busy_machine(tmp_path: Path, busy_machine: None) -> None:
    with process([*CLI, "sim", "ptd", "--port", "0", "--identity", "wt310"]) as sim:
        assert sim.stdout is not None
        port = int(wait_for_line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        config = tmp_path / "director.toml"
        config.write_text(f'[analyzer]\ntype = "ptd"\nport = {port}\ninterval_ms = 200\n'
                          "[session]\nsettle_s = 0.1\npoll_interval_s = 0.2\n")
        workload = tmp_path / "busy_ranging.py"
        workload.write_text(WORKLOAD)
        result = run_cli("run", "--config", str(config), "--label", "busy", "--out", str(tmp_path / "runs"),
                         "--", sys.executable, str(workload))
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    report = json.loads((session / "report.json").read_text())
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["testing_power_vs_ranging"] == "pass", report["problems"]
    ranging_w, testing_w = report["ranging"]["power"]["avg_watts"], report["power"]["avg_watts"]
    # Steady: --idle-watts 60 + half of --dynamic-watts 140, with 0.5 % noise, in both phases.
    assert ranging_w == pytest.approx(130.0, rel=0.02) and testing_w == pytest.approx(130.0, rel=0.02)
    # Other checks may fail on a machine this busy (a sample late past a 200 ms interval):
    # exit 1 then, with its reasons, never the power rule.
    print(result.returncode, report["problems"])
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert not any("ranging" in problem and "power" in problem for problem in report["problems"])


def test_the_cpu_model_is_there_on_request() -> None:
    help_text = " ".join(run_cli("sim", "ptd", "--help", timeout=60).stdout.split())
    assert "--power {cpu,steady}" in help_text and "steady (default)" in help_text
    bad = run_cli("sim", "ptd", "--power", "sometimes", timeout=60)
    assert bad.returncode == 2 and "invalid choice: 'sometimes'" in bad.stderr
