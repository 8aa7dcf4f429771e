"""Before testing, a session warns when the ranges ranging implies would break the 1 % rule."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import Reading
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import Session


class Spiky:
    """Mostly 5 W with a 1000 W spike every fifth sample: big ranges, tiny readings."""

    def __init__(self) -> None:
        self.count = 0

    def reading(self, t_ns: int) -> Reading:
        self.count += 1
        watts = 1000.0 if self.count % 5 == 0 else 5.0
        return Reading(watts, 230.0, watts / 230.0, 1.0)


def test_range_advice_warns_and_the_report_fails_the_uncertainty_check(tmp_path: Path) -> None:
    said: list[str] = []

    async def main() -> Path:
        simulator = PtdSimulator(model=Spiky(), identity="wt310")
        port = await simulator.start_server()
        config = Config(PtdConfig(port=port, interval_ms=100), SessionConfig(settle_s=0.0))
        try:
            session = Session(config, PtdAnalyzer("127.0.0.1", port),
                              InProcessLoadgen(CpuBenchmark("Offline", 1.0, accelerator=True)),
                              out_root=tmp_path, label="spiky", say=said.append)
            await session.run()
            return session.dir
        finally:
            await simulator.close()

    session_dir = asyncio.run(main())
    warnings = [line for line in said if "warning:" in line and "uncertain (limit 1 %)" in line]
    assert warnings, said
    meta = json.loads((session_dir / "session.json").read_text())
    assert meta["analyzers"][0]["worst_sample_uncertainty"] > 0.01
    report = json.loads((session_dir / "report.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["testing_sample_uncertainty"]["status"] == "fail"
    assert not report["valid"]
