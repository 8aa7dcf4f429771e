"""Director, simulated meter and SUT agent as separate processes on loopback, real LoadGen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reports.model.report import SessionReport
from reports.spl import read_spl
from tests.remote_util import CLI, ROOT, TOKEN, director_processes, quiet_env

SHIFT_S = 30.0  # well past a phase even on a loaded machine: the raw window must miss every sample
SESSION_FILES = {
    "ranging/mlperf_log_detail.txt",
    "ranging/mlperf_log_summary.txt",
    "ranging/spl.txt",
    "run_1/mlperf_log_detail.txt",
    "run_1/mlperf_log_summary.txt",
    "run_1/spl.txt",
    "power/ptd_logs.txt",
    "report.json",
    "session.json",
}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_remote_session_with_a_shifted_sut_clock(tmp_path: Path) -> None:
    agent_out = tmp_path / "agent-runs"
    with director_processes(tmp_path) as (port, director_out, _):
        agent = subprocess.run(
            [
                *CLI,
                "sut-agent",
                "--director",
                f"127.0.0.1:{port}",
                "--token-file",
                str(tmp_path / "token"),
                "--label",
                "e2e",
                "--out",
                str(agent_out),
                "--",
                sys.executable,
                "-m",
                "loadgen_bridge.cpu_sut",
                "--scenario",
                "Offline",
                "--seconds",
                "2",  # computing, not --accelerator: `sim ptd`'s power follows the machine's CPU
            ],
            cwd=ROOT,
            env=quiet_env(POWER_DIRECTOR_AGENT_CLOCK_OFFSET_S=str(SHIFT_S)),
            capture_output=True,
            text=True,
            timeout=150,
        )
    assert TOKEN.decode() not in agent.stdout + agent.stderr
    assert agent.returncode in (0, 1), agent.stdout + agent.stderr  # 1: a 2 s run is short
    (director_dir,) = [p for p in director_out.iterdir() if p.is_dir()]
    downloaded = agent_out / director_dir.name
    assert _files(downloaded) == _files(director_dir)  # the agent has the whole session, intact
    assert set(_files(downloaded)) >= SESSION_FILES
    assert any(
        name.startswith("raw/") and name.endswith(".samples.txt") for name in _files(downloaded)
    )
    kept = agent_out / f"{director_dir.name}-sut-logs"
    assert (kept / "ranging" / "mlperf_log_detail.txt").is_file()
    assert (kept / "testing" / "mlperf_log_detail.txt").is_file()

    report = json.loads((downloaded / "report.json").read_text())
    assert report["scenario"] == "Offline"
    clock = report["clock"]
    assert abs(clock["offset_ms"] - SHIFT_S * 1000) < 5.0, clock
    assert clock["bound_ms"] < 5.0
    # The typed clock section reads back as written, and the page shows it.
    assert SessionReport.read(downloaded / "report.json").to_json() == report
    assert "Offset (SUT − director)" in (downloaded / "report.html").read_text(encoding="utf-8")
    assert any("MLCommons checker will misalign" in w for w in report["warnings"])
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["testing_window_inside_measurement"] == "pass", report["checks"]
    assert checks["ranging_window_inside_measurement"] == "pass", report["checks"]

    # The raw (SUT-clock) window lies after the last sample; the corrected one sits on the load.
    meta = json.loads((downloaded / "session.json").read_text())
    raw = meta["clock"]["phases"]["testing"]["raw"]
    series = read_spl(downloaded / "run_1" / "spl.txt")
    assert not ((series.t_ns > raw["begin_ns"]) & (series.t_ns < raw["end_ns"])).any()
    assert report["power"]["samples_in_window"] >= 5, report["power"]
    assert report["power"]["avg_watts"] > 60.0 + 0.3 * 140.0, report["power"]  # idle + CPU load
