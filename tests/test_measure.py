"""``power-director measure -- CMD``: any command measured as a session (issue 26).

The simulated meter of ``--meter sim`` reads 60 W idle and 60 + 70 × load W while the command
runs, each sample the mean over exactly its interval (analyzer_drivers/sim/command_model.py);
the load comes from the director's ``POWER_DIRECTOR_SIM_LOAD`` or the command's ``sim-load``
lines, never from the machine's CPU, so these figures hold on a busy machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadgen_bridge.marks import MARKS_ENV
from reports.build.ab_test import needed_runs, welch_test
from reports.model.report import SessionReport
from tests.conftest import CLI
from tests.test_cli import free_port, one_line_error, ptd_sim, write_config

__all__ = ["ptd_sim"]  # the fixture, shared with test_cli

IDLE_W, BUSY_W = 60.0, 70.0
SLEEP = [sys.executable, "-c", "import time; time.sleep(1.0)"]


def measure(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "measure", *args], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})})


def measure_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = measure("--json", "--no-estimates", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_json_figures_idle_and_work_units_and_the_session_in_ls(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    script = "import time; print('tokens=7'); time.sleep(0.8); print('tokens=5')"
    data = measure_json("--meter", "sim", "--idle-s", "1", "--work-regex", r"tokens=(\d+)",
                        "--work-unit", "token", "--out", str(out), "--", sys.executable, "-c", script)
    for key in ("energy_j", "avg_watts", "uncertainty_watts", "duration_s", "idle_watts",
                "energy_above_idle_j", "energy_per_unit_j", "unit"):
        assert isinstance(data[key], (int, float, str)), key
    assert data["unit"] == "token" and data["work"]["units"] == 12
    assert data["energy_per_unit_j"] == pytest.approx(data["energy_j"] / 12)
    assert data["energy_j"] == pytest.approx(data["avg_watts"] * data["duration_s"])
    # Load 1 for the command's whole life: 130 W exactly, up to the sim's 0.2 % noise.
    assert data["avg_watts"] == pytest.approx(IDLE_W + BUSY_W, rel=0.01)
    assert data["idle_watts"] == pytest.approx(IDLE_W, rel=0.01)
    assert data["idle"]["drifted"] is False
    assert data["energy_above_idle_j"] == pytest.approx(
        data["energy_j"] - data["idle_watts"] * data["duration_s"])
    assert 0 < data["uncertainty_watts"] < 0.1 * data["avg_watts"]
    session = Path(data["dir"])
    assert (session / "report.html").is_file() and (session / "raw").is_dir()
    stored = (session / "report.json").read_text(encoding="utf-8")
    report = SessionReport.read(session / "report.json")  # typed records, written back the same
    assert report.dumps() == stored and report.measure is not None and report.eehpc is not None
    (run,) = report.measure.runs
    assert run.work is not None and run.work.units == 12 and run.unit == "token"
    assert run.idle is not None and run.idle.idle_watts == data["idle_watts"] == report.eehpc.facts.idle_watts
    assert report.measure.summary.energy_j is not None and report.measure.summary.energy_j.n == 1
    assert "tokens=7" in (session / "run_1" / "output.txt").read_text()
    listed = subprocess.run([*CLI, "ls", str(out), "--json"], capture_output=True, text=True, check=True)
    (row,) = json.loads(listed.stdout)
    assert row["session"] == data["session"] and row["scenario"] == "command"


def test_the_exit_status_is_the_commands_and_the_session_is_kept(tmp_path: Path) -> None:
    result = measure("--meter", "sim", "--quiet", "--no-estimates", "--out", str(tmp_path),
                     "--", sys.executable, "-c", "import sys; print('partial'); sys.exit(3)")
    assert result.returncode == 3, result.stderr
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    report = json.loads((session / "report.json").read_text())
    assert report["measure"]["runs"][0]["exit_code"] == 3
    assert any("exit status 3" in w for w in report["warnings"])


def test_phases_from_a_shell_script_and_from_python(tmp_path: Path) -> None:
    script = (f'echo mark load > "${MARKS_ENV}"; echo sim-load 0.2 > "${MARKS_ENV}"; sleep 1; '
              f'echo mark decode > "${MARKS_ENV}"; echo sim-load 0.8 > "${MARKS_ENV}"; sleep 1; '
              f'echo this is not a mark > "${MARKS_ENV}"; '
              f'{sys.executable} -c "import power_director as p; p.mark(\'tail\')"; sleep 0.5')
    data = measure_json("--meter", "sim", "--out", str(tmp_path), "--", "sh", "-c", script)
    phases = {p["name"]: p for p in data["phases"]}
    assert list(phases) == ["load", "decode", "tail"]
    assert phases["tail"]["stamped_by"] == "command" and phases["load"]["stamped_by"] == "director"
    # The load changes at the mark (the same line read), so each phase reads its own level.
    assert phases["load"]["avg_watts"] == pytest.approx(IDLE_W + 0.2 * BUSY_W, rel=0.02)
    assert phases["decode"]["avg_watts"] == pytest.approx(IDLE_W + 0.8 * BUSY_W, rel=0.02)
    assert phases["decode"]["energy_j"] == pytest.approx(
        phases["decode"]["avg_watts"] * phases["decode"]["duration_s"])
    assert data["channel_errors"] == ["this is not a mark"]


def test_mark_outside_a_measurement_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import power_director

    monkeypatch.delenv(MARKS_ENV, raising=False)
    assert power_director.mark("decode") is False


def _verdict_test(a_dirs: list[Path], b_dirs: list[Path], *extra: str) -> dict[str, Any]:
    result = subprocess.run([*CLI, "compare", "--json", *extra, "--test", *map(str, a_dirs), "--",
                             *map(str, b_dirs)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_compare_test_finds_a_known_difference(tmp_path: Path) -> None:
    """A at load 0.3 (81 W), B at 0.5 (95 W): A − B is −14 W, −14.74 % of B."""
    sessions = {}
    for side, load in (("A", "0.3"), ("B", "0.5")):
        data = measure_json("--meter", "sim", "--repeat", "4", "--label", side, "--out", str(tmp_path),
                            "--", *SLEEP, env={"POWER_DIRECTOR_SIM_LOAD": load})
        sessions[side] = Path(data["dir"])
    test = _verdict_test([sessions["A"]], [sessions["B"]], "--metric", "avg_watts", "--html",
                         str(tmp_path / "ab.html"))
    assert test["a"]["n"] == test["b"]["n"] == 4 and test["method"].startswith("Welch")
    assert test["detected"] and re.match(r"A uses [\d.]+ ± [\d.]+ % less power than B", test["verdict"])
    truth = -BUSY_W * 0.2
    low, high = test["ci95"]
    # The 95 % interval misses the truth 5 % of the time by construction; three half-widths
    # (t > 7 at these degrees of freedom) almost never, unless the estimate or interval is wrong.
    half = (high - low) / 2
    assert abs(test["difference"] - truth) <= 3 * half + 0.05, test
    assert test["relative_pct"] == pytest.approx(100 * truth / (IDLE_W + 0.5 * BUSY_W), abs=0.5)
    assert "data:image/png;base64," in (tmp_path / "ab.html").read_text()


def test_identical_commands_show_no_difference(tmp_path: Path) -> None:
    data = measure_json("--meter", "sim", "--repeat", "2", "--out", str(tmp_path),
                        "--b-cmd", shlex.join(SLEEP), "--", *SLEEP)
    sides = [s["side"] for s in data["a"] + data["b"]]
    assert sides == ["A", "A", "B", "B"]
    sessions = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [p.name[-2:] for p in sessions] == ["-A", "-B", "-A", "-B"]  # interleaved in time
    assert data["test"]["metric"] == "energy_j" and Path(data["test"]["html"]).is_file()
    verdict = data["test"]["verdict"]
    assert verdict.startswith(("no difference detectable at n=2", "A uses")), verdict
    # The same sessions on both sides: the same runs, so no difference, whatever the noise.
    a_sessions = [p for p in sessions if p.name.endswith("-A")]
    same = _verdict_test(a_sessions, a_sessions, "--metric", "avg_watts")
    assert same["difference"] == 0 and not same["detected"]
    assert same["verdict"].startswith("no difference detectable at n=2")


def test_welch_interval_matches_r_on_students_sleep_data() -> None:
    """R's ``t.test(extra ~ group, data = sleep)`` (the stats package's own example, Welch by
    default) prints df = 17.776 and the 95 % interval -3.3654832 0.2054832."""
    group1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    group2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    test = welch_test(group1, group2, "extra", "h")
    assert test.df == pytest.approx(17.776, abs=5e-4)
    assert test.ci95 is not None
    assert test.ci95[0] == pytest.approx(-3.3654832, abs=2e-4)
    assert test.ci95[1] == pytest.approx(0.2054832, abs=2e-4)
    assert not test.detected and test.verdict.startswith("no difference detectable at n=10")


def test_verdicts_and_runs_needed() -> None:
    a, b = [92.0, 92.4, 91.8, 92.2, 92.1], [100.0, 100.3, 99.8, 100.1, 99.9]
    test = welch_test(a, b, "energy_per_unit_j", "J/token")
    assert test.verdict.startswith("A uses 7.9 ± ") and "% less energy per token than B" in test.verdict
    same = welch_test([1.0, 1.1, 0.9, 1.0, 1.05], [1.02, 0.95, 1.0, 1.08, 0.97], "energy_j", "J")
    assert same.verdict.startswith("no difference detectable at n=5")
    assert f"about n={same.needed_n} per side needed to resolve 2 %" in same.verdict
    # (1.96 + 0.84)² × (0.1² + 0.1²) / 0.02² = 392 runs per side for 2 % of 1.0
    assert needed_runs(0.1, 0.1, 0.02) == 393  # 392.4, up
    assert "cannot test" in welch_test([1.0], [1.0, 2.0], "energy_j", "J").verdict


def test_sim_estimate_is_compared_with_the_wall_meter(tmp_path: Path) -> None:
    """The second simulated meter reads 20 W + 0.8 × 70 W × load: at load 1, 76 W against the
    wall's 130 W, an error of -41.5 %."""
    data = measure_json("--meter", "sim", "--sim-estimate", "--repeat", "2", "--out", str(tmp_path),
                        "--", *SLEEP)
    (estimate,) = data["estimates"]
    (over_runs,) = data["summary"]["estimate_error_vs_wall_pct"].values()
    assert over_runs["n"] == 2 and over_runs["mean"] == pytest.approx(100 * (76 / 130 - 1), abs=1.0)
    assert estimate["informative"] is True
    assert estimate["avg_watts"] == pytest.approx(20 + 0.8 * BUSY_W, rel=0.01)
    assert estimate["error_vs_wall_pct"] == pytest.approx(100 * (76 / 130 - 1), abs=1.0)
    report = json.loads((Path(data["dir"]) / "report.json").read_text())
    assert report["beside"]  # the session's cross-validation section has it too


def test_codecarbon_estimate_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("codecarbon")
    result = measure("--json", "--meter", "sim", "--out", str(tmp_path), "--", *SLEEP)
    assert result.returncode == 0, result.stderr
    found = {e["source"]: e for e in json.loads(result.stdout)["estimates"]}
    assert found["codecarbon"]["energy_j"] > 0 and found["codecarbon"]["informative"]


def test_a_loadgen_command_keeps_its_mlperf_metric(ptd_sim: int, tmp_path: Path) -> None:
    config = write_config(tmp_path, ptd_sim)
    data = measure_json("--config", str(config), "--out", str(tmp_path / "runs"), "--",
                        sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                        "--seconds", "1", "--accelerator")
    assert data["mlperf"]["scenario"] == "Offline" and data["mlperf"]["unit"] == "W"
    assert data["energy_j"] > 0


def test_meter_problem_and_bad_options_are_one_line_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())  # nobody listens there
    line = one_line_error(measure("--config", str(config), "--out", str(tmp_path / "o"), "--", *SLEEP))
    assert "ptd" in line or "connect" in line
    line = one_line_error(measure("--meter", "sim", "--work-regex", "tokens=", "--", *SLEEP))
    assert "group" in line
    line = one_line_error(measure("--meter", "sim", "--out", str(tmp_path / "p"), "--", "/no/such/cmd"))
    assert "cannot start" in line
    line = one_line_error(measure("--meter", "sim", "--out", str(tmp_path / "q"), "--", *SLEEP,
                                  env={"POWER_DIRECTOR_SIM_LOAD": "2"}))
    assert "0 to 1" in line


def test_rapl_is_added_beside_the_meter_where_the_host_has_it(tmp_path: Path) -> None:
    """A powercap tree laid out as Linux's intel_rapl driver lays it out (tests/test_rapl_nvml.py)
    is probed and added as a ``beside`` meter; a host without one gets none, silently."""
    import asyncio

    from power_director.config.loader import Config
    from power_director.config.meters.ptd import PtdConfig
    from power_director.session.measure import with_software_meters
    from tests.test_rapl_nvml import make_zone

    make_zone(tmp_path / "powercap", "intel-rapl:0", "package-0", 1000)
    config = Config(analyzer=PtdConfig(interval_ms=100))
    found = asyncio.run(with_software_meters(config, str(tmp_path / "powercap")))
    kinds = [(e.role, e.meter.type, getattr(e.meter, "rapl_root", None)) for e in found.extra_analyzers]
    assert ("beside", "rapl", str(tmp_path / "powercap")) in kinds
    none = asyncio.run(with_software_meters(config, str(tmp_path / "absent")))
    assert all(e.meter.type != "rapl" for e in none.extra_analyzers)


def test_the_session_page_shows_the_measured_command(tmp_path: Path) -> None:
    script = f'echo mark only > "${MARKS_ENV}"; sleep 0.5'
    data = measure_json("--meter", "sim", "--sim-estimate", "--out", str(tmp_path), "--", "sh", "-c", script)
    html = (Path(data["dir"]) / "report.html").read_text()
    assert "Measured command" in html and "<td>only</td>" in html
    assert "software estimate (informative)" in html


def test_a_meter_lost_mid_run_is_one_line_exit_2_and_the_samples_are_kept(tmp_path: Path) -> None:
    """The PTDaemon simulator (its own process, as a user starts it) dies while the command runs."""
    port = free_port()
    meter = subprocess.Popen([*CLI, "sim", "ptd", "--port", str(port), "--identity", "wt310"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert meter.stdout is not None and "listening" in meter.stdout.readline()
        config = write_config(tmp_path, port, "reconnect_timeout_s = 1.0\n")
        out = tmp_path / "runs"
        script = f'sleep 1; kill {meter.pid}; sleep 3'
        line = one_line_error(measure("--config", str(config), "--out", str(out), "--quiet",
                                      "--no-estimates", "--", "sh", "-c", script))
    finally:
        meter.kill()
        meter.wait(timeout=10)
    assert "raw data kept in" in line
    (session,) = [p for p in out.iterdir() if p.is_dir()]
    samples = (session / "raw").glob("*.samples.txt")
    assert sum(len(p.read_text().splitlines()) for p in samples) > 0
    assert json.loads((session / "session.json").read_text())["status"] == "aborted"
