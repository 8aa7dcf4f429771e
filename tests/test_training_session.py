"""Training mode end to end: a job that logs real ``:::MLLOG`` run_start/run_stop lines with
mlperf_logging's own logger, measured over two nodes (two PTDaemon simulators) and an estimated
switch, for two runs; the tree it writes passes mlperf_logging 4.1.68's power check, and its result
summarizer's energy equals ours (reports.mlperf.training: the Training rule's arithmetic).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlperf_logging.compliance_checker.mlp_parser import parse_file
from mlperf_logging.package_checker.power_checker import PowerChecker
from mlperf_logging.result_summarizer import result_summarizer

from analyzer_drivers.sim.models import WaveModel, constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.config.loader import config_from_dict
from power_director.session.measure import MeasurePlan, measure_sessions
from reports.mlperf.training import TreeRun, training_tree
from tests.conftest import CLI

RULESET = "4.1.0"
JOB = """
import logging, sys, time
from mlperf_logging.mllog import constants, mllog
logger = logging.Logger("job")
logger.addHandler(logging.StreamHandler(sys.stdout))
log = mllog.MLLogger(logger=logger)
log.event(key=constants.SUBMISSION_BENCHMARK, value="bert")
log.start(key=constants.RUN_START)
time.sleep(float(sys.argv[1]))
log.end(key=constants.RUN_STOP, metadata={"status": "success"})
"""


def _job(tmp_path: Path) -> list[str]:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return [sys.executable, str(script), "1.5"]


def _two_nodes_and_a_switch(tmp_path: Path) -> tuple[Path, list[TreeRun]]:
    async def main() -> Path:
        sims = [PtdSimulator(model=constant_model(w), averaging_ms=200) for w in (400.0, 250.0)]
        ports = [await s.start_server() for s in sims]
        meters = [{"type": "ptd", "port": p, "interval_ms": 200, "connect_timeout_s": 5.0} for p in ports]
        names = [f"ptd-127.0.0.1-{p}" for p in ports]
        try:
            config = config_from_dict({
                "analyzer": meters[0], "extra_analyzer": [{**meters[1], "role": "sum"}],
                "session": {"settle_s": 0.1, "poll_interval_s": 0.2, "system": "rack1"},
                "node": [{"name": "gpu1", "meters": [names[0]]}, {"name": "gpu2", "meters": [names[1]]}],
                "switch": [{"name": "ib", "max_spec_watts": 300.0, "provisioning_ratio": 0.5}],
            })
            plan = MeasurePlan(_job(tmp_path), repeat=2, label="bert", estimates=False, training=True)
            (session,) = await measure_sessions(plan, config, tmp_path / "runs", say=lambda _: None)
            return session.directory
        finally:
            for sim in sims:
                await sim.close()

    session_dir = asyncio.run(main())
    return session_dir, training_tree(session_dir, tmp_path / "tree" / "results" / "rack1" / "bert", 0.94)


def test_two_nodes_and_an_estimated_switch_as_mlperf_logging_reads_them(tmp_path: Path) -> None:
    session_dir, runs = _two_nodes_and_a_switch(tmp_path)
    benchmark_dir = tmp_path / "tree" / "results" / "rack1" / "bert"
    result_files = sorted(str(p) for p in benchmark_dir.glob("result_*.txt"))
    assert [Path(f).name for f in result_files] == ["result_0.txt", "result_1.txt"]
    assert sorted(p.name for p in (benchmark_dir / "power" / "result_1").iterdir()) == [
        "node_0.txt", "node_1.txt", "sw_0.txt"]
    valid, errors = PowerChecker(RULESET).check_power(str(benchmark_dir / "power"), result_files)
    assert valid and not errors
    for run, result_file in zip(runs, result_files, strict=True):
        loglines, _ = parse_file(result_file, ruleset=RULESET)
        start, stop = result_summarizer._query_run_start_stop(loglines)
        theirs = result_summarizer._compute_total_power(str(benchmark_dir), result_file, stop - start,
                                                        RULESET)
        assert theirs == pytest.approx(run.energy.rule_j, rel=1e-9)
        ttt_s = (stop - start) / 1000
        # 400 W + 250 W measured, 150 W estimated, × 0.94: what the simulators and the switch draw
        assert run.energy.rule_j == pytest.approx(0.94 * (400 + 250 + 150) * ttt_s, rel=0.01)
        assert run.energy.switches_j["ib"] == pytest.approx(0.94 * 150 * ttt_s, rel=1e-12)
    report = json.loads((session_dir / "report.json").read_text())
    assert report["scenario"] == "Training" and report["testing"]["power"]["avg_watts"] > 0
    eehpc = report["eehpc"]  # the job's run is the core phase; an estimated switch stops short of level 3
    assert eehpc["facts"]["interconnect"] == "estimated" and eehpc["facts"]["nodes_measured"] == 2
    assert eehpc["level"] < 3 and any("interconnect estimated" in why for why in eehpc["not_met"]["3"])
    html = (session_dir / "report.html").read_text()
    assert 'id="eehpc"' in html and f"EEHPC level {eehpc['level']}" in html


def test_the_command_line_writes_the_tree_and_a_job_without_run_stop_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "training", "--meter", "sim", "--runs", "1", "--json", "--quiet", "--out",
                           str(tmp_path / "runs"), "--", *_job(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    tree = Path(figures["tree"])
    assert tree.name == "bert" and (tree / "power" / "result_0" / "node_0.txt").is_file()
    assert figures["runs"][0]["energy_j"] > 0
    broken = tmp_path / "broken.py"
    broken.write_text(JOB.replace('log.end(key=constants.RUN_STOP, metadata={"status": "success"})', ""))
    done = subprocess.run([*CLI, "training", "--meter", "sim", "--quiet", "--out", str(tmp_path / "runs"),
                           "--", sys.executable, str(broken), "0.2"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no run_stop" in done.stderr, done.stderr


def _condition_session(tmp_path: Path, name: str, idle_w: float, amplitude_w: float, gain: float) -> Path:
    """One load condition: the reference and, beside it, a candidate reading ``gain`` × its power."""
    async def main() -> Path:
        sims = [PtdSimulator(model=WaveModel(idle_w * g, amplitude_w * g, period_s=2.0, averaging_s=0.1),
                             averaging_ms=100) for g in (1.0, gain)]
        ports = [await s.start_server() for s in sims]
        meters = [{"type": "ptd", "port": p, "interval_ms": 100, "connect_timeout_s": 5.0} for p in ports]
        try:
            config = config_from_dict({
                "analyzer": meters[0], "extra_analyzer": [{**meters[1], "role": "beside"}],
                "session": {"settle_s": 0.1, "poll_interval_s": 0.1},
            })
            plan = MeasurePlan([sys.executable, "-c", "import time; time.sleep(3.6)"], label=name,
                               estimates=False)
            (session,) = await measure_sessions(plan, config, tmp_path / f"runs-{gain}", say=lambda _: None)
            return session.directory
        finally:
            for sim in sims:
                await sim.close()

    return asyncio.run(main())


@pytest.mark.parametrize(("gain", "code", "verdict"), [(1.02, 0, "PASS"), (1.08, 1, "FAIL")])
def test_qualify_passes_a_meter_2_percent_off_and_fails_one_8_percent_off(
    tmp_path: Path, gain: float, code: int, verdict: str
) -> None:
    sessions = [_condition_session(tmp_path, name, idle, amplitude, gain)
                for name, idle, amplitude in (("idle", 120.0, 0.0), ("resnet", 380.0, 60.0),
                                              ("bert", 610.0, 120.0))]
    done = subprocess.run([*CLI, "qualify", "--window-s", "0.6", *map(str, sessions)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code, done.stdout + done.stderr
    assert verdict in done.stdout.splitlines()[0]
    differences = [float(re.search(r"W, ([+-][\d.]+) %", line).group(1))  # type: ignore[union-attr]
                   for line in done.stdout.splitlines()[1:4]]
    assert differences == pytest.approx([100 * (gain - 1)] * 3, abs=0.3)
