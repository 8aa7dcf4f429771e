"""A session with several analyzers: two supplies summed by time, and a meter beside them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config import AnalyzerConfig, Config, SessionConfig
from power_director.session import Session, SessionError
from reports.spl import read_spl


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("multi")

    async def main() -> Path:
        sims = [PtdSimulator(model=constant_model(w), identity="wt310") for w in (100.0, 150.0, 40.0)]
        ports = [await sim.start_server() for sim in sims]
        config = Config(AnalyzerConfig(port=ports[0], interval_ms=200), SessionConfig(settle_s=0.1))
        meters = [PtdAnalyzer("127.0.0.1", port) for port in ports]
        try:
            session = Session(
                config, meters[0], InProcessLoadgen(CpuBenchmark("Offline", 1.5, accelerator=True)),
                out_root=out, label="two-supplies", say=lambda _: None,
                extra_analyzers=[(meters[1], "sum"), (meters[2], "beside")],
            )
            await session.run()
            return session.dir
        finally:
            for sim in sims:
                await sim.close()

    return asyncio.run(main())


def report_of(session: Path) -> dict[str, Any]:
    return json.loads((session / "report.json").read_text())


def test_supplies_are_summed_by_time(session_dir: Path) -> None:
    report = report_of(session_dir)
    assert report["valid"], report["problems"]
    assert report["power"]["avg_watts"] == pytest.approx(250.0, rel=0.01)
    line = (session_dir / "run_1" / "spl.txt").read_text().splitlines()[3]
    assert ",Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark," in line
    assert ",Ch1,Watts,100." in line and ",Ch2,Watts,150." in line


def test_each_meter_keeps_its_raw_samples_and_ranges(session_dir: Path) -> None:
    meta = json.loads((session_dir / "session.json").read_text())
    roles = [a["role"] for a in meta["analyzers"]]
    assert roles == ["primary", "sum", "beside"]
    for analyzer in meta["analyzers"]:
        assert len(read_spl(session_dir / "raw" / f"{analyzer['driver']}.samples.txt")) > 10
    assert meta["analyzers"][1]["ranges"]["testing"]["amps"] == 1.0  # 150 W / 230 V × 1.1
    assert meta["analyzers"][2]["ranges"]["testing"] == {"volts": None, "amps": None}


def test_beside_meter_is_reported_not_added(session_dir: Path) -> None:
    beside = report_of(session_dir)["beside"]
    (entry,) = beside.values()
    assert entry["avg_watts"] == pytest.approx(40.0, rel=0.01)
    assert entry["share_of_wall"] == pytest.approx(40.0 / 250.0, rel=0.02)


def test_duplicate_analyzers_are_refused(tmp_path: Path) -> None:
    meter = PtdAnalyzer("127.0.0.1", 1)
    with pytest.raises(SessionError, match="share a name"):
        Session(Config(), meter, InProcessLoadgen(CpuBenchmark("Offline", 1)), out_root=tmp_path,
                extra_analyzers=[(PtdAnalyzer("127.0.0.1", 1), "sum")])
