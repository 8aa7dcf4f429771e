"""``mlperf_valid`` means what MLCommons accepts, with reasons; ``submission`` lays it out."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_meta import AnalyzerRecord
from power_director.cli.app import main
from reports import checks
from reports.checks import Check
from reports.mlperf.checks import meter_identity, mlperf_analyzer, mlperf_calibration, mlperf_interval
from reports.mlperf.submission import Placement, lay_out
from tests import mlperf_rules
from tests.test_mlcommons_layout import measure


@given(st.floats(1.0, 5000.0), st.floats(0.9, 1.1))
def test_power_rule_is_the_checkers(ranging_watts: float, ratio: float) -> None:
    """Ours passes exactly when compliance/check.py's rounded ``delta > -5`` does."""
    testing_watts = ranging_watts * ratio
    ours = checks.testing_power_vs_ranging(testing_watts, ranging_watts).status == "pass"
    assert ours == mlperf_rules.mlperf_power_delta_ok(testing_watts, ranging_watts)


def test_power_rule_rounds_like_the_checker() -> None:
    # 4.998 % below rounds to -5.0: not > -5, so MLCommons rejects it (the example).
    assert checks.testing_power_vs_ranging(95.002, 100.0).status == "fail"
    assert checks.testing_power_vs_ranging(95.006, 100.0).status == "pass"  # -4.99 %


#: PTDaemon 1.9.2's Identify reply in a real submission: mlcommons/inference_results_v2.0 at
#: 425a0d30c6e0cb9b65595881572cbba5f18572eb, closed/Krai/results/rpi4-tflite-v2.7.1-ruy/
#: resnet50/multistream/performance/power/server.json (also in shared/fixtures/real-submissions).
KRAI_IDENTIFY = ("YokogawaWT310E,1000,1,1,1,1,0,1,1,version=1.9.2-e8c7a49a-20201208,OS=Linux "
                 "5.13.0-28-generic #31~20.04.1-Ubuntu SMP Wed Jan 19 14:08:10 UTC 2022 x86_64,"
                 "mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;WT310E;C3XA04010E;F1.04")


def test_meter_identity_from_real_identify_replies() -> None:
    """A real PTDaemon Identify reply, and a *IDN? reply (WT310 example, docs/protocols.md#yokogawa-wt300)."""
    krai = meter_identity(KRAI_IDENTIFY)
    assert (krai.model, krai.serial, krai.firmware) == ("WT310E", "C3XA04010E", "F1.04")
    assert krai.calibration_date == ""  # PTDaemon says no_cal_date
    idn = meter_identity("YOKOGAWA,WT310,C2PH13047V,F1.03")
    assert (idn.manufacturer, idn.serial, idn.firmware) == ("YOKOGAWA", "C2PH13047V", "F1.03")


def test_calibration_older_than_12_months_is_not_mlperf_valid() -> None:
    run = dt.date(2026, 11, 29)
    old = mlperf_calibration("2025-10-01", run)
    assert old.status == "warning" and "2025-10-01" in old.reason and "12 months" in old.reason
    assert mlperf_calibration("2026-01-15", run).status == "pass"
    assert mlperf_calibration("", run).status == "warning"


def analyzer_check(analyzer: dict[str, str]) -> Check:
    """The analyzer rule on an analyzer as session.json describes it."""
    return mlperf_analyzer(AnalyzerRecord.from_json(analyzer))


def test_analyzer_and_interval_rules() -> None:
    wt310 = {"name": "YokogawaWT310", "version": "1.11.1-abc-20250101", "identify": "x,version=1.11.1-abc"}
    assert analyzer_check(wt310).status == "pass"
    assert "1.10.0" in analyzer_check({**wt310, "version": "1.10.0-x-y"}).reason
    assert "not a model" in analyzer_check({**wt310, "name": "PowerDirectorSimulator"}).reason
    assert "PTDaemon" in analyzer_check({"name": "WT310", "identify": "YOKOGAWA,WT310,1,F1"}).reason
    # Our simulator answers as PTDaemon 1.11.1 so MLCommons' checker can be run on its sessions,
    # but with "sim" in the version's CRC field: never MLPerf-valid for us.
    simulated = analyzer_check({**wt310, "version": "1.11.1-sim00000-20261123"})
    assert simulated.status == "warning" and "simulator" in simulated.reason
    assert mlperf_interval(1000).status == "pass" and mlperf_interval(200).status == "warning"


@pytest.fixture(scope="module")
def short_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return measure(tmp_path_factory.mktemp("short"), "Offline", 1)


def test_short_session_says_why_not_mlperf_valid(short_session: Path) -> None:
    report = json.loads((short_session / "report.json").read_text())
    assert report["valid"] and not report["mlperf_valid"]
    reasons = " / ".join(report["mlperf_problems"])
    assert "600 s" in reasons and "calibration" in reasons
    assert "not a model" not in reasons and "every 1000 ms" not in reasons  # WT310, 1000 ms
    meta = json.loads((short_session / "session.json").read_text())
    assert (meta["analyzer"]["serial"], meta["analyzer"]["firmware"]) == ("C2PH13047V", "F1.03")


def test_submission_refuses_a_session_that_is_not_mlperf_valid(short_session: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"not MLPerf-valid: .*600 s"):
        lay_out(short_session, Placement("Acme", "box1", "resnet50"), tmp_path / "tree")
    assert not (tmp_path / "tree").exists()
    assert main(["submission", str(short_session), "--submitter", "../x", "--system", "s",
                 "--model", "m", "--out", str(tmp_path / "t"), "--allow-invalid"]) == 2
    assert not (tmp_path / "t").exists()


def test_submission_tree(short_session: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    argv = ["submission", str(short_session), "--submitter", "Acme", "--system", "box1",
            "--model", "resnet50", "--out", str(tree), "--allow-invalid"]
    assert main(argv) == 0
    scenario = tree / "closed" / "Acme" / "results" / "box1" / "resnet50" / "Offline"
    files = sorted(str(p.relative_to(scenario)) for p in scenario.rglob("*") if p.is_file())
    assert files == sorted([
        "analyzer_table.md", "power_settings.md",
        *[f"performance/{d}/{f}" for d in ("ranging", "run_1")
          for f in ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")],
        *[f"performance/power/{f}" for f in ("client.json", "client.log", "ptd_logs.txt",
                                             "server.json", "server.log")]])
    table = (scenario / "analyzer_table.md").read_text()
    assert "| Serial number | C2PH13047V |" in table and "| Firmware | F1.03 |" in table
    for rule in mlperf_rules.RULES.values():  # the laid-out result still passes the checker's rules
        rule(scenario / "performance")
    assert main(argv) == 2  # nothing is overwritten
    shutil.rmtree(tree)
