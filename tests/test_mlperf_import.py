"""``report`` and ``audit`` on real MLPerf power runs we did not record.

Fixtures: tests/fixtures/real-submissions/ — six runs copied byte for byte from the public
MLCommons results repositories (mlcommons/inference_results_v1.1 7fc43356, v2.0 425a0d30, v3.0
1948f9b5, v4.1 198fc467; each run's SOURCE.txt names its path), real SPEC PTDaemon output of real
Yokogawa analyzers. ``checker_reference.json`` holds the MLCommons submission checker's number:
today's (mlcommons/inference b66003e10e2db4b8c36a448b0545ec90fcc6e9e9,
tools/submission/submission_checker/checks/power_check.py ``get_power_metric_check``) and the
one of the round it was published in (tools/submission/submission-checker.py at 0ca20e70 for
v1.1/v2.0 rules). The v2.0 Krai value (×8: a MultiStream result run by a SingleStream LoadGen)
was also reproduced by running today's PowerCheck on the run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from power_director.cli.app import main

FIXTURES = Path(__file__).parent / "fixtures" / "real-submissions"
RUNS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the set of paths: an added file shows)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def reference(run: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / run / "checker_reference.json").read_text())
    return data


def report_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["report", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("run", RUNS)
def test_report_gives_the_checkers_number_and_changes_nothing(
    run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = reference(run)
    directory = FIXTURES / run
    before = tree_hashes(directory)
    _, current = report_json(capsys, str(directory), "--scenario", ref["scenario_dir"])
    _, round_report = report_json(capsys, str(directory), "--scenario", ref["scenario_dir"],
                                  "--rules", ref["round"])
    assert tree_hashes(directory) == before  # byte-identical, nothing added

    expected_current = ref["current_checker"]["metric"]
    got_current = current["checker"]["current"]["value"]
    assert got_current == (None if expected_current is None else pytest.approx(expected_current, rel=1e-12))
    expected_round = ref["round_checker"]
    assert round_report["checker"]["rules"]["value"] == pytest.approx(expected_round["metric"], rel=1e-12)
    assert round_report["checker"]["rules"]["unit"] == expected_round["unit"]
    # Our own headline is the checker's number of the run's round, in its scenario and unit.
    unit = expected_round["unit"]
    key = "energy_per_query_mj" if unit == "mJ/query" else "avg_watts"
    assert round_report["power"][key] == pytest.approx(expected_round["metric"], rel=1e-12)
    assert round_report["scenario"].lower() == ref["scenario_dir"].lower()
    assert round_report["rules"]["name"] == ref["round"]
    # Published under its round's checker: valid under that round's rules, with no problem.
    assert round_report["valid"] and round_report["problems"] == [], round_report["problems"]
    # It says what it cannot know instead of passing it.
    assert round_report["unknown"]
    statuses = {c["name"]: c["status"] for c in round_report["checks"]}
    assert statuses["analyzer_reconnects"] == "unknown"
    assert statuses["clock_offset"] == "pass"  # client.json and server.json agree within 800 ms


def test_old_loadgen_derives_queries_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    run = "v1.1_Dell_XE2420_A10x1_TRT_MaxQ_resnet50_SingleStream"
    _, report = report_json(capsys, str(FIXTURES / run))
    assert report["power"]["query_source"].startswith("result_qps_with_loadgen_overhead x duration")
    assert report["checker"]["current"]["value"] is None
    assert any("today's checker gives no number" in n for n in report["notes"])
    assert any("queries derived" in n for n in report["notes"])
    # Today's rules fail the 5.2 % drop; v1.1's had no such rule, and the report says so.
    assert not report["valid"]
    _, v11 = report_json(capsys, str(FIXTURES / run), "--rules", "v1.1")
    assert v11["valid"]
    assert any("a rule since v3.1" in w for w in v11["warnings"])


def test_multistream_by_singlestream_loadgen_counts_eight_samples(capsys: pytest.CaptureFixture[str]) -> None:
    run = "v2.0_Krai_rpi4-tflite-v2.7.1-ruy_resnet50_multistream"
    _, plain = report_json(capsys, str(FIXTURES / run))  # no results directory: LoadGen's scenario
    _, fixed = report_json(capsys, str(FIXTURES / run), "--scenario", "multistream")
    assert plain["scenario"] == "SingleStream"
    assert fixed["scenario"] == "MultiStream"
    assert fixed["power"]["energy_per_query_mj"] == pytest.approx(8 * plain["power"]["energy_per_query_mj"])
    assert any("LoadGen ran SingleStream" in n for n in fixed["notes"])


def test_auto_ranging_gap_of_2001_ms_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """Two -1 readings while auto-ranging in the real v3.0 Qualcomm ranging run leave a 2.001 s gap."""
    run = "v3.0_Qualcomm_g292_z43_q16e-qaic-v1.8.3.7-aic100_resnet50_offline"
    _, report = report_json(capsys, str(FIXTURES / run))
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["ranging_sample_coverage"] == "pass"
    assert report["ranging"]["power"]["coverage"]["longest_gap_s"] == pytest.approx(2.001, abs=1e-6)


def test_not_a_power_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "power-runs"
    other.mkdir()
    (other / "notes.txt").write_text("hello\n")
    for directory in (empty, other):
        before = tree_hashes(tmp_path)
        assert main(["report", str(directory)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "is not a power run" in err
        assert tree_hashes(tmp_path) == before
        assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in directory.iterdir())
    assert list(empty.iterdir()) == []


def test_out_gets_the_report_and_the_run_stays_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = FIXTURES / "v4.1_NVIDIA_H200-SXM-141GBx8_TRT_MaxQ_3d-unet-99.9_Offline"
    before = tree_hashes(directory)
    out = tmp_path / "out"
    assert main(["report", str(directory), "--out", str(out)]) == 0
    assert "4613.62" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html", "power.png"}
    html = (out / "report.html").read_text()
    assert "4613.62" in html and "data:image/png;base64," in html and "Imported run" in html
    assert tree_hashes(directory) == before
    # --out inside the run would add files to it: refused, one line, nothing written.
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    before_copy = tree_hashes(copy)
    assert main(["report", str(copy), "--out", str(copy / "mine")]) == 2
    assert "never write there" in capsys.readouterr().err
    assert tree_hashes(copy) == before_copy


def build_tree(root: Path) -> Path:
    """The six runs at their original paths (SOURCE.txt), as in the results repositories."""
    for run in RUNS:
        source = (FIXTURES / run / "SOURCE.txt").read_text()
        original = re.search(r"original path: (\S+)/\{", source)
        repo = re.search(r"repo: github.com/mlcommons/(\S+)", source)
        assert original and repo
        dest = root / repo.group(1) / original.group(1)
        for sub in ("power", "ranging", "run_1"):
            shutil.copytree(FIXTURES / run / sub, dest / sub)
    return root


def test_audit_prints_one_row_per_run_and_reads_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = build_tree(tmp_path / "tree")
    before = tree_hashes(tree)
    assert main(["audit", str(tree), "--rules", "current,v2.0", "--jobs", "1"]) == 0
    table = capsys.readouterr().out
    assert "6 power runs; unreadable: 0" in table
    assert "current rules: 1 invalid; runs failing each rule: testing_power_vs_ranging 1" in table
    assert "27356.392" in table and "MultiStream" in table  # scenario from the results directory
    assert main(["audit", str(tree), "--csv", "--jobs", "2"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 6
    by_scenario = {row["run"].split("/")[-2]: row for row in rows}
    assert float(by_scenario["Server"]["checker"]) == pytest.approx(2142.023627287856, rel=1e-12)
    assert main(["audit", str(tree), "--json", "--jobs", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6
    assert tree_hashes(tree) == before
    # A run with power/ but a torn detail log is a row saying why, and the audit goes on.
    broken = tree / "closed" / "Org" / "results" / "sys" / "model" / "Offline" / "performance"
    shutil.copytree(FIXTURES / RUNS[-1], broken, ignore=shutil.ignore_patterns("*.json", "SOURCE.txt"))
    (broken / "run_1" / "mlperf_log_detail.txt").write_text(":::MLLOG {\"key\": \"power_begin\"")
    assert main(["audit", str(tree), "--json", "--jobs", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    failed = [row for row in rows if "failed" in row]
    assert len(rows) == 7 and len(failed) == 1 and "Org/results" in failed[0]["run"]


def test_bad_evidence_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "v4.1_NVIDIA_H200-SXM-141GBx8_TRT_MaxQ_3d-unet-99.9_Offline", run)
    assert main(["report", str(run), "--scenario", "Sideways"]) == 2
    assert "unknown scenario" in capsys.readouterr().err
    (run / "power" / "server.json").write_bytes(b'{"timezone": 0, "phases": ')
    before = tree_hashes(run)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "server.json is not valid JSON" in err
    assert tree_hashes(run) == before
    (run / "power" / "server.json").write_bytes((FIXTURES / "v4.1_NVIDIA_H200-SXM-141GBx8_TRT_MaxQ_3d-unet"
                                                 "-99.9_Offline" / "power" / "server.json").read_bytes())
    (run / "power" / "ptd_logs.txt").write_bytes(bytes(range(256)) * 64)  # garbage: no line to read
    before_garbage = tree_hashes(run)
    _, data = report_json(capsys, str(run))
    assert tree_hashes(run) == before_garbage
    assert data["checker"]["current"]["value"] == pytest.approx(4613.619383259915, rel=1e-12)
    assert {c["name"]: c["status"] for c in data["checks"]}["testing_sample_uncertainty"] == "unknown"


def test_our_own_files_read_in_import_mode_give_the_same_number(  # type: ignore[no-untyped-def]
    demo_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A session of ours without its journal is read like a published run: same number, and
    what only the journal knew (reconnects) becomes unknown."""
    from tests.conftest import session_dirs

    _, out = demo_run
    session = session_dirs(out)["demo-offline"]
    own = json.loads((session / "report.json").read_text())
    copy = tmp_path / "copy"
    shutil.copytree(session, copy, ignore=shutil.ignore_patterns("raw"))
    _, imported = report_json(capsys, str(copy))
    assert imported["power"]["avg_watts"] == own["power"]["avg_watts"]
    assert imported["checker"]["current"]["value"] == own["power"]["avg_watts"]
    statuses = {c["name"]: c["status"] for c in imported["checks"]}
    assert statuses["analyzer_reconnects"] == "unknown"
    assert statuses["testing_window_inside_phase"] == "pass"
    assert statuses["clock_offset"] == "pass"


def test_an_imported_runs_analyzer_table_names_the_ptdaemon_that_served_it() -> None:
    """The PTDaemon version row reads the daemon's own Identify reply (``version=`` in the real
    run's power/server.log: 1.9.2-3976349f-20201208); a meter not read through PTDaemon has none."""
    from reports.build.mlperf_import import import_run
    from reports.mlperf.submission import analyzer_table

    run = "v2.0_NVIDIA_A100-PCIe-80GBx8_TRT_MaxQ_bert-99.9_Server"
    assert "version=1.9.2-3976349f-20201208" in (FIXTURES / run / "power" / "server.log").read_text()
    _, imported = import_run(FIXTURES / run, checker_column=False)
    assert "| PTDaemon version | 1.9.2-3976349f-20201208 |" in analyzer_table(imported.meta())
