"""The command line as a user runs it: demo, report, run, sim — and its errors."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, run_cli, session_dirs

IDLE_WATTS = 60.0
POWER_KEYS = {"avg_watts", "samples_in_window", "window_begin", "window_end", "duration_s",
              "energy_j", "energy_per_query_mj", "queries"}


def test_demo_measures_both_scenarios_above_idle(demo_run) -> None:  # type: ignore[no-untyped-def]
    result, out = demo_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    sessions = session_dirs(out)
    assert set(sessions) == {"demo-singlestream", "demo-offline"}
    for label, session in sessions.items():
        for sub in ("ranging", "run_1"):
            assert (session / sub / "mlperf_log_detail.txt").is_file()
            assert (session / sub / "spl.txt").stat().st_size > 0
        assert (session / "power" / "ptd_logs.txt").is_file()
        assert list((session / "raw").glob("*.samples.txt"))
        report = json.loads((session / "report.json").read_text())
        assert report["valid"] is True and report["problems"] == []
        assert report["mlperf_valid"] is False  # seconds, not the 600 s MLPerf needs
        for phase in ("testing", "ranging"):
            assert set(report[phase]["power"]) >= POWER_KEYS
        assert set(report["power"]) >= POWER_KEYS
        # The CPU SUT really loads the machine: the simulated wall power rises well above idle.
        assert report["power"]["avg_watts"] > IDLE_WATTS + 30, label
        assert report["ranges"]["testing"]["volts"] == 300.0
    single = json.loads((sessions["demo-singlestream"] / "report.json").read_text())
    assert single["scenario"] == "SingleStream" and single["power"]["energy_per_query_mj"] > 0
    assert "mJ/query" in result.stdout and " W  [valid" in result.stdout


def test_report_recomputes_the_same_result_from_files(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    session = session_dirs(out)["demo-offline"]
    before = json.loads((session / "report.json").read_text())
    (session / "report.json").unlink()
    result = run_cli("report", str(session))
    assert result.returncode == 0, result.stderr
    assert json.loads((session / "report.json").read_text()) == before
    # Our own session (it has its journal): --out gets copies, --json prints the report.
    copied = run_cli("report", str(session), "--out", str(tmp_path / "out"), "--json")
    assert json.loads(copied.stdout) == before
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == before
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "power.png").is_file()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening_port(process: subprocess.Popen[str]) -> int:
    """The port a ``sim`` started with ``--port 0`` says it listens on (a port picked free here
    may be taken before the sim binds it: seen at -n 6)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, line
    return int(match.group(1))


@pytest.fixture
def ptd_sim(tmp_path: Path) -> Iterator[int]:
    """``power-director sim ptd`` in its own process, as a user starts it."""
    process = subprocess.Popen(
        [*CLI, "sim", "ptd", "--port", "0", "--identity", "wt310", "--dynamic-watts", "0",
         "--log", str(tmp_path / "ptd.log")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield listening_port(process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "director.toml"
    path.write_text(
        f"[analyzer]\ntype = \"ptd\"\nport = {port}\ninterval_ms = 200\nconnect_timeout_s = 3.0\n"
        f"[session]\nsettle_s = 0.1\npoll_interval_s = 0.2\n{extra}"
    )
    return path


def test_run_measures_a_workload_command(ptd_sim: int, tmp_path: Path) -> None:
    config = write_config(tmp_path, ptd_sim)
    result = run_cli(
        "run", "--config", str(config), "--label", "cmd", "--out", str(tmp_path / "runs"), "--",
        sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "1.5",
        "--accelerator",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    report = json.loads((session / "report.json").read_text())
    assert report["scenario"] == "Offline" and report["valid"]
    assert report["analyzer"]["model"] == "WT310"
    assert report["ranges"]["testing"]["amps"] in (0.5, 1.0, 2.0)  # snapped to a WT310 range


def test_run_with_loadgen_logs_dir(ptd_sim: int, tmp_path: Path) -> None:
    logs = tmp_path / "lg"
    config = write_config(tmp_path, ptd_sim)
    result = run_cli(
        "run", "--config", str(config), "--out", str(tmp_path / "runs"), "--loadgen-logs", str(logs),
        "--", sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "SingleStream",
        "--seconds", "1", "--out", str(logs), "--accelerator",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mJ/query" in result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("power-director: error: ")
    return lines[0]


def test_failing_workload_keeps_the_raw_data(ptd_sim: int, tmp_path: Path) -> None:
    config = write_config(tmp_path, ptd_sim)
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--",
                     sys.executable, "-c", "import time, sys; time.sleep(0.5); sys.exit(3)")
    line = one_line_error(result)
    assert "workload exited with status 3 in the ranging phase" in line and "raw data kept" in line
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert json.loads((session / "session.json").read_text())["status"] == "aborted"
    raw_lines = next((session / "raw").glob("*.samples.txt")).read_text().splitlines()
    assert len(raw_lines) >= 2  # the samples of the half second before the failure


def test_workload_that_writes_no_logs(ptd_sim: int, tmp_path: Path) -> None:
    config = write_config(tmp_path, ptd_sim)
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--",
                     sys.executable, "-c", "pass")
    assert "wrote no mlperf_log_detail.txt" in one_line_error(result)


def test_dead_analyzer(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port(), )
    started = time.monotonic()
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--", "true")
    assert "cannot connect to PTDaemon at 127.0.0.1" in one_line_error(result)
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[analyzer\n", "is not valid TOML"),
        ("[analyzer]\nport = 'x'\n", "port must be an integer, not str"),
        ("[analyzer]\nport = 70000\n", "port 70000 is not a TCP port"),
        ("[analyzer]\nbogus = 1\n", "has an unknown key 'bogus'"),
        ("[nonsense]\n", "unknown section [nonsense]"),
        ("[session]\nsettle_s = -1\n", "settle_s cannot be negative"),
        ("[session]\nlead_intervals = -2\n", "lead_intervals cannot be negative"),
        ("[analyzer]\ntype = 'magic'\n", "type 'magic' is not known"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert message in one_line_error(run_cli("run", "--config", str(path), "--", "true"))


def test_missing_config_and_missing_session(tmp_path: Path) -> None:
    missing = run_cli("run", "--config", str(tmp_path / "no.toml"), "--", "x")
    assert "cannot read config" in one_line_error(missing)
    assert "no session directory" in one_line_error(run_cli("report", str(tmp_path / "nothing")))
    (tmp_path / "empty").mkdir()
    # Not one of our sessions (no journal) and not a power run: one line, nothing written (issue 13).
    assert "is not a power run" in one_line_error(run_cli("report", str(tmp_path / "empty")))
    assert list((tmp_path / "empty").iterdir()) == []


def test_run_with_a_second_supply_from_the_config(ptd_sim: int, tmp_path: Path) -> None:
    second = subprocess.Popen(
        [*CLI, "sim", "ptd", "--port", "0", "--identity", "wt310",
         "--idle-watts", "40", "--dynamic-watts", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        port = listening_port(second)
        config = write_config(tmp_path, ptd_sim, f'[[extra_analyzer]]\nrole = "sum"\nport = {port}\n')
        result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs"), "--",
                         sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                         "--seconds", "1", "--accelerator")
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        second.terminate()
        second.wait(timeout=10)
    (session,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    report = json.loads((session / "report.json").read_text())
    assert report["power"]["avg_watts"] == pytest.approx(100.0, rel=0.03)  # 60 W + 40 W, summed by time
    assert ",Ch2,Watts," in (session / "run_1" / "spl.txt").read_text()


def test_bad_extra_analyzer_role(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[extra_analyzer]]\nrole = "twice"\n')
    result = run_cli("run", "--config", str(path), "--", "x")
    assert "role must be 'sum' or 'beside'" in one_line_error(result)
