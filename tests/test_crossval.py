"""Cross-validation: an emulated BMC beside the PTDaemon simulator (certified), same load.

The BMC (sushy-tools' sushy-static serving our DMTF-shaped mockup) reads
``offset + gain × load`` averaged over a window and delayed; the report must find the offset,
gain and lag that were set: gain within 1 %, offset within 1 % of the mean power (offset and
gain are fitted together, so the offset's error is the gain's error times the mean power), lag
within one sampling interval. Runs ``bench/crossval.py``'s session in-process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer_drivers.formats.meter_records import SavedCalibration
from analyzer_drivers.formats.session_meta import AnalyzerRecord
from analyzer_drivers.meters.redfish import RedfishAnalyzer
from analyzer_drivers.sim.models import WaveModel
from analyzer_drivers.sim.redfish import BmcModel, RedfishSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.calibration import load_calibration
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import Session
from reports.crossval import apply_calibration, cross_validate, meter_grade
from tests.conftest import run_cli

BENCH = Path(__file__).resolve().parents[1] / "bench" / "crossval.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_crossval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_crossval"] = module
    spec.loader.exec_module(module)
    return module




@pytest.fixture(scope="module")
def crossval(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("crossval")
    run = _bench().run_crossval(out, 30.0, offset=15.0, gain=1.05, delay_s=0.6)
    report: dict[str, Any] = asyncio.run(run)
    return report


def test_report_finds_the_offset_gain_and_lag_that_were_set(crossval: dict[str, Any]) -> None:
    report = crossval
    assert report["valid"], report["problems"]
    assert report["grade"]["label"] == "certified"
    (entry,) = report["beside"].values()
    assert entry["grade"] == "informative" and "not a SPEC-accepted analyzer" in entry["grade_reason"]
    found = entry["cross_validation"]
    mean_watts = report["power"]["avg_watts"]
    assert found["gain"] == pytest.approx(1.05, rel=0.01)
    assert abs(found["offset_watts"] - 15.0) <= 0.01 * mean_watts
    assert abs(found["lag_s"] - 0.6) <= 0.2  # one sampling interval
    assert found["correlation"] > 0.99
    # The BMC reads 15 W + 1.05 × the load, 0.6 s late. The window is not a whole number of the
    # sine's periods, so its mean is the certified meter's average over it, not the load's idle
    # 200 W; the lag moves the BMC's window mean by at most 2 × 0.6 s × 50 W / duration (× 1.05).
    power = report["testing"]["power"]
    certified_watts, duration_s = power["avg_watts"], power["duration_s"]
    lag_pct = 100 * 1.05 * 2 * 0.6 * 50.0 / duration_s / certified_watts
    expected_pct = 100 * (15 + 0.05 * certified_watts) / certified_watts
    assert abs(found["energy_difference_pct"] - expected_pct) <= lag_pct + 0.5, (expected_pct, lag_pct)


def _series(t_s: np.ndarray, watts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (t_s * 1e9).astype(np.int64), watts.astype(np.float64)


def test_cross_validate_recovers_a_shifted_scaled_copy() -> None:
    t = np.arange(0.0, 60.0, 0.5)
    load = 100 + 40 * np.sin(2 * np.pi * t / 12)
    shifted = 7.0 + 0.9 * (100 + 40 * np.sin(2 * np.pi * (t - 1.5) / 12))
    found = cross_validate(_series(t, load), _series(t, shifted), int(5e9), int(55e9), 500_000_000)
    assert found is not None
    assert found.gain == pytest.approx(0.9, rel=0.01) and found.offset_watts == pytest.approx(7.0, abs=1.0)
    assert found.lag_s == pytest.approx(1.5, abs=0.1)


def test_a_periodic_load_gives_the_shortest_lag_not_one_period_later() -> None:
    t = np.arange(0.0, 80.0, 0.2)
    load = 100 + 50 * np.sin(2 * np.pi * t / 10)
    late = 15 + 1.05 * (100 + 50 * np.sin(2 * np.pi * (t - 0.6) / 10))  # also "9.4 s early"
    found = cross_validate(_series(t, load), _series(t, late), int(5e9), int(75e9), 200_000_000)
    assert found is not None and found.lag_s == pytest.approx(0.6, abs=0.02)


def test_too_short_a_window_gives_no_figures() -> None:
    t = np.arange(0.0, 2.0, 0.5)
    assert cross_validate(_series(t, t + 1), _series(t, t + 1), 0, int(2e9), 500_000_000) is None


def grade(analyzer: dict[str, str]) -> tuple[str, str]:
    """The grade of an analyzer as session.json describes it."""
    return meter_grade(AnalyzerRecord.from_json(analyzer))


def test_grades_and_calibration() -> None:
    # PTDaemon's Identify: the 9th field is isAccepted (docs/protocols.md#ptdaemon, a real WT330E reply)
    accepted = ("YokogawaWT330E,1000,1,1,1,1,0,0,1,version=1.9.2-e8c7a49a-20201208,OS=Linux,mode=power,"
                "1,1,1,0,0,no_cal_date,YOKOGAWA;WT333E;C3VD30030E;F1.04")
    ptd = {"driver": "ptd-h-8888", "identify": accepted, "name": "YokogawaWT330E"}
    assert grade(ptd)[0] == "certified"
    assert grade({"driver": "ptd-h-8888", "identify": accepted.replace(",0,0,1,", ",0,0,0,", 1)})[0] \
        == "informative"
    assert grade({"driver": "yokogawa-x", "model": "WT310E"})[0] == "certified"
    assert grade({"driver": "redfish-bmc", "name": "BMC"}) == (
        "informative", "BMC (redfish) is not a SPEC-accepted analyzer")
    fit = SavedCalibration.new(offset_watts=15.0, gain=1.05)
    assert apply_calibration(120.0, fit) == pytest.approx(100.0)
    assert apply_calibration(120.0, SavedCalibration.new(gain=0)) is None


def test_a_saved_calibration_is_applied_to_a_later_informative_run(crossval: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    session_dir = Path(crossval["set"]["session_dir"])
    calibration_file = tmp_path / "bmc.json"
    result = run_cli("calibrate", str(session_dir), "--calibration-file", str(calibration_file))
    assert result.returncode == 0, result.stderr
    saved = json.loads(calibration_file.read_text())
    (driver,) = crossval["beside"]
    assert saved["meter"] == driver and saved["from_session"] == session_dir.name
    port = int(driver.rsplit("-", 1)[1])

    async def later_run() -> dict[str, Any]:
        # the same BMC (same address), a steady 100 W load it reads as 15 W + 1.05 × 100 W; its
        # sensor's ReadingTime tells each update from a stale reading
        bmc = RedfishSimulator(tmp_path / "mockup", BmcModel(WaveModel(100.0, 0.0), 15.0, 1.05, 0.3, 0.6),
                               schema="environment", update_s=0.1)
        await asyncio.to_thread(bmc.start, port)
        try:
            meter = RedfishAnalyzer(f"http://127.0.0.1:{port}", auth="none", source="power")
            meter.calibration = load_calibration(str(calibration_file), meter.name)
            config = Config(PtdConfig(interval_ms=200), SessionConfig(settle_s=0.2))
            workload = InProcessLoadgen(CpuBenchmark("Offline", 2.0, accelerator=True))
            session = Session(config, meter, workload, out_root=tmp_path, label="calibrated",
                              say=lambda _: None)
            return (await session.run()).to_json()
        finally:
            bmc.close()

    report = asyncio.run(later_run())
    assert report["power"]["avg_watts"] == pytest.approx(120.0, rel=0.005)
    applied = report["calibration"]
    assert applied["from_session"] == session_dir.name and applied["meter"] == driver
    assert applied["corrected_avg_watts"] == pytest.approx(100.0, rel=0.015)


def test_calibrate_without_a_cross_validation_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(json.dumps({"session": "s", "beside": {}}))
    result = run_cli("calibrate", str(tmp_path), "--calibration-file", str(tmp_path / "c.json"))
    assert result.returncode == 2 and "has no cross-validation" in result.stderr
    assert result.stderr.strip().count("\n") == 0
