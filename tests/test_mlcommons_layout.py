"""Simulated-WT310 sessions at 1000 ms pass MLCommons' power checker, rule by rule.

Every scenario and a 2-channel daemon: each rule restated in ``tests/mlperf_rules.py``
(power-dev compliance/check.py at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2) always runs;
the checker itself runs too when POWER_DEV_DIR names a power-dev checkout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from analyzer_drivers.formats.session_layout import RAW_DIR, phase_dir, read_session_meta, samples_path
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.files import rebuild_session_files
from power_director.session.session import Session
from tests import mlperf_rules
from tests.file_opens import counted_opens
from tests.mlperf_checker import SOURCE_RULES, failed_rules

#: PTDaemon 1.10+'s line per sample over the limit (docs/protocols.md#ptdaemon; the checker's
#: WARNING_NEEDS_TO_BE_ERROR_TESTING_RE matches its message).
UNCERTAINTY_LINE = re.compile(r"^\d\d-\d\d-\d{4} [\d:.]{12}: WARNING: Uncertainty (\d+\.\d\d)%, which is "
                              r"above 1\.00% limit for the last sample!$", re.MULTILINE)
CASES = [("Offline", 1), ("Server", 1), ("SingleStream", 1), ("MultiStream", 1), ("Offline", 2)]


def measure(out: Path, scenario: str, channels: int, watts: float = 180.0, pf: float = 1.0,
            lead_s: float = 0.0) -> Path:
    async def main() -> Path:
        simulator = PtdSimulator(model=constant_model(watts, pf=pf), identity="wt310", channels=channels)
        port = await simulator.start_server()
        config = Config(PtdConfig(port=port, interval_ms=1000), SessionConfig(settle_s=0.1))
        try:
            workload = InProcessLoadgen(CpuBenchmark(scenario, 2.5, accelerator=True), lead_s)
            session = Session(config, PtdAnalyzer("127.0.0.1", port), workload, out_root=out,
                              label=f"wt310-{scenario}", say=lambda _: None)
            await session.run()
            return session.dir
        finally:
            await simulator.close()

    return asyncio.run(main())


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-{c}ch" for s, c in CASES])
def wt310_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario, channels = request.param
    return measure(tmp_path_factory.mktemp("wt310"), scenario, channels)


@pytest.mark.parametrize("rule", sorted(mlperf_rules.RULES))
def test_restated_rule(wt310_session: Path, rule: str) -> None:
    check: Callable[[Path], None] = mlperf_rules.RULES[rule]
    check(wt310_session)


def test_mlcommons_checker_itself(wt310_session: Path) -> None:
    assert failed_rules(wt310_session) == SOURCE_RULES


def test_ptd_messages_follow_power_dev(wt310_session: Path) -> None:
    """power-dev lib/server.py: Hello, Identify, RR, then SR,V,Auto, SR,A,Auto twice at ranging."""
    server = json.loads((wt310_session / "power" / "server.json").read_text())
    commands = [m["cmd"] for m in server["ptd_messages"]]
    assert commands[:6] == ["Hello", "Identify", "RR", "SR,V,Auto", "SR,A,Auto", "SR,A,Auto"]
    assert commands[-2:] == ["SR,V,Auto", "SR,A,Auto"]  # the simulator starts on auto ranges
    assert [a["device_type"] for a in server["ptd_config"]] == [49]


def test_power_metric_and_our_checks(wt310_session: Path) -> None:
    report = json.loads((wt310_session / "report.json").read_text())
    # On a busy machine the CPU SUT's Server run can miss its latency bound: LoadGen's
    # verdict, not a power problem.
    assert [p for p in report["problems"] if not p.startswith("LoadGen says")] == []
    assert report["power"]["avg_watts"] == pytest.approx(180.0, rel=0.01)
    names = {c["name"]: c["status"] for c in report["checks"]}
    assert names["testing_sample_uncertainty"] == "pass"
    assert names["testing_sample_coverage"] == "pass"
    assert names["testing_range_overload"] == "pass"
    assert "WARNING:" not in (wt310_session / "power" / "ptd_logs.txt").read_text()


def test_samples_over_one_percent_are_warned_and_fail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 3 W load at power factor 0.05 draws 0.26 A: on the WT310's 300 V × 0.5 A ranges the
    range term alone is 0.05 % of 150 W, 2.5 % of the reading (WT310 spec, docs/protocols.md#yokogawa-wt300).
    ptd_logs.txt then carries PTDaemon's WARNING per sample, and both MLCommons' rule and
    ours fail the session."""
    with caplog.at_level(logging.INFO, logger="power_director.sim.ptd"):
        session = measure(tmp_path, "Offline", 1, watts=3.0, pf=0.05)
    # The simulator prints the same line on its console, as PTDaemon 1.10+ does.
    console = [r.getMessage() for r in caplog.records]
    assert any(UNCERTAINTY_LINE.search(line) for line in console), console[:5]
    assert any("Uncertainty checking for YokogawaWT310 is activated" in line for line in console)
    text = (session / "power" / "ptd_logs.txt").read_text()
    warnings = UNCERTAINTY_LINE.findall(text)
    assert warnings and all(float(w) > 1.0 for w in warnings)
    with pytest.raises(AssertionError, match="during testing phase"):
        mlperf_rules.ptd_logs(session)
    report = json.loads((session / "report.json").read_text())
    assert {c["name"]: c["status"] for c in report["checks"]}["testing_sample_uncertainty"] == "fail"


def test_a_finish_reads_the_raw_journal_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each phase's spl.txt and ptd_logs.txt's per-sample warnings come from one read of the
    wall meter's raw samples, and are what the raw lines of each mark say."""
    session = measure(tmp_path, "Offline", 2, watts=3.0, pf=0.05)  # warnings need the samples
    meta = read_session_meta(session)
    raw = samples_path(session / RAW_DIR, str(meta.primary.driver))
    marks = {phase_dir(phase): recorded.mark for phase, recorded in meta.phases.items()}
    derived = [session / "power" / "ptd_logs.txt", *(session / phase / "spl.txt" for phase in marks)]
    written = {path: path.read_bytes() for path in derived}
    for path in derived:
        path.unlink()
    with counted_opens(monkeypatch) as opens:
        rebuild_session_files(session, meta)
    assert opens[raw.resolve()] == 1
    assert {path: path.read_bytes() for path in derived} == written
    assert UNCERTAINTY_LINE.search(written[derived[0]].decode())
    raw_lines = raw.read_text().splitlines(keepends=True)
    for phase, mark in marks.items():  # a 2-channel line: its mark before its channels
        expected = [line for line in raw_lines if f",Mark,{mark},Ch1," in line]
        assert len(expected) > 2 and (session / phase / "spl.txt").read_text() == "".join(expected)
