"""Lab automation from the command line: repeat runs with intervals, compare, ranging reuse,
check-config and output modes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reports.repeat import interval_stats, t_975
from tests.conftest import run_cli, session_dirs
from tests.test_cli import one_line_error, ptd_sim, write_config  # noqa: F401  (ptd_sim: fixture)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_interval_statistics_against_hand_computed_values() -> None:
    stats = interval_stats([10.0, 12.0, 14.0])
    assert stats.mean == 12.0 and stats.stdev == 2.0
    assert stats.half_width == pytest.approx(4.303 * 2.0 / 3 ** 0.5)
    assert interval_stats([5.0]).ci95 is None
    assert t_975(100) == 1.96


def test_repeat_three_prints_an_interval_and_compare_shows_both(tmp_path: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path), "--seconds", "1", "--repeat", "3", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ranges" not in result.stdout  # --quiet: no progress log, only the summaries
    assert result.stdout.count("repeat: ") == 2 and "95 % CI [" in result.stdout
    sessions = session_dirs(tmp_path)
    for session in sessions.values():
        assert all((session / f"run_{k}" / "spl.txt").stat().st_size > 0 for k in (1, 2, 3))
        report = json.loads((session / "report.json").read_text())
        repeat = report["repeat"]
        assert repeat["n"] == 3 and [r["dir"] for r in repeat["runs"]] == ["run_1", "run_2", "run_3"]
        low, high = repeat["ci95"]
        assert low < repeat["mean"] < high and repeat["runs"][0]["value"] == report["power"][repeat["metric"]]
        assert all(r["samples_in_window"] > 0 for r in repeat["runs"])
        assert repeat["efficiency"]["n"] == 3 and repeat["efficiency"]["half_width"] is not None
    compared = run_cli("compare", *(str(p) for p in sessions.values()), timeout=60)
    assert compared.returncode == 0, compared.stderr
    assert compared.stdout.count("95 % CI [") == 2


def test_reuse_ranging_skips_it_and_is_not_mlperf_valid(ptd_sim: int, tmp_path: Path) -> None:  # noqa: F811
    config = write_config(tmp_path, ptd_sim)
    workload = ["--", sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
                "--seconds", "1", "--accelerator"]
    first = run_cli("run", "--config", str(config), "--label", "first", "--out", str(tmp_path / "a"),
                    *workload)
    assert first.returncode == 0, first.stdout + first.stderr
    (earlier,) = [p for p in (tmp_path / "a").iterdir() if p.is_dir()]
    again = run_cli("run", "--config", str(config), "--label", "again", "--out", str(tmp_path / "b"),
                    "--reuse-ranging", str(earlier), *workload)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "ranging: ranges" not in again.stdout
    (session,) = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
    report = json.loads((session / "report.json").read_text())
    old = json.loads((earlier / "report.json").read_text())
    assert report["valid"] and report["mlperf_valid"] is False
    assert report["ranges"]["testing"] == old["ranges"]["testing"]
    assert any(c["name"] == "ranging_reused" and c["status"] == "warning" for c in report["checks"])
    bad = run_cli("run", "--config", str(config), "--out", str(tmp_path / "c"),
                  "--reuse-ranging", str(tmp_path / "nothing"), *workload)
    assert "cannot reuse the ranging of" in one_line_error(bad)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_every_example_config_checks(example: str) -> None:
    result = run_cli("check-config", "--config", str(EXAMPLES / example), timeout=60)
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout.split("\n", 1)[1])
    assert effective["telemetry"]["broker"] and effective["analyzer"]["type"] in example


def test_check_config_rejects_a_bad_telemetry_section(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[telemetry]\nbroker = 'no port:x'\n")
    line = one_line_error(run_cli("check-config", "--config", str(path)))
    assert "[telemetry] broker 'no port:x' is not HOST:PORT" in line
    missing = run_cli("check-config", "--config", str(tmp_path / "none.toml"))
    assert "cannot read config" in one_line_error(missing)


def test_bad_lab_options_are_argparse_errors(tmp_path: Path) -> None:
    for args in (["--repeat", "0"], ["--broker", "host:notaport"], ["--quiet", "--json"]):
        result = run_cli("demo", "--out", str(tmp_path), *args, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "power-director demo: error: " in result.stderr
