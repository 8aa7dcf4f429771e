"""A director process for the PostgreSQL test: real sessions (PTDaemon simulator, the real
LoadGen), each recorded in the results store its config names.

    python -m tests.pg_director URL SOURCE OUT_DIR SESSIONS
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import config_from_dict
from power_director.session.session import Session


async def main(url: str, source: str, out: Path, sessions: int) -> None:
    simulator = PtdSimulator(model=constant_model(150.0 + 10 * len(source)), averaging_ms=250)
    port = await simulator.start_server()
    config = config_from_dict({
        "analyzer": {"type": "ptd", "port": port, "interval_ms": 250, "connect_timeout_s": 5.0},
        "session": {"settle_s": 0.1, "poll_interval_s": 0.25, "results_url": url, "label": f"pg-{source}"},
        "telemetry": {"director_id": source},
    })
    try:
        for _ in range(sessions):
            workload = InProcessLoadgen(CpuBenchmark("SingleStream", 1.0, accelerator=True))
            session = Session(
                config, make_analyzer(config.analyzer), workload, out_root=out, say=lambda _: None
            )
            await session.run()  # which records it in the results store
            assert session.record_error is None, session.record_error
            await asyncio.sleep(1.1)  # session names have 1 s resolution
    finally:
        await simulator.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
