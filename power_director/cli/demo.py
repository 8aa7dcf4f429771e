"""``power-director demo``: the whole path on loopback, with no hardware and no network.

A PTDaemon-protocol simulator whose power follows the work the SUT has in flight, the
PTDaemon driver, and the real LoadGen over a small SUT that waits 2 ms per query as a host
waits on an accelerator, for SingleStream and Offline. Other programs on the machine move
neither the verdict nor (much) the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from analyzer_drivers.sim.ptd_server import PtdSimulator
from analyzer_drivers.sim.work_model import WorkModel
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen, lead_s
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.observe.observer import SessionObserver
from power_director.session.assembly import build_session
from reports.model.report import SessionReport
from reports.render.summary import summary_text

DEMO_SCENARIOS = ("SingleStream", "Offline")
DEMO_INTERVAL_MS = 200


async def run_demo(
    out_root: Path,
    seconds: float,
    say: Callable[[str], None] = print,
    scenarios: tuple[str, ...] = DEMO_SCENARIOS,
    *,
    observers: Sequence[SessionObserver] = (),
    repeat: int = 1,
    summary: Callable[[str], None] | None = None,
) -> list[SessionReport]:
    """Run one session per scenario against a simulator; return their reports.

    ``say`` gets the progress lines, ``summary`` (default: ``say``) each session's summary.
    """
    summary = summary or say
    model = WorkModel()
    simulator = PtdSimulator(model=model, averaging_ms=DEMO_INTERVAL_MS)
    port = await simulator.start_server("127.0.0.1", 0)
    say(
        f"PTDaemon simulator on 127.0.0.1:{port}: {model.idle_watts:g} W idle "
        f"+ {model.busy_watts:g} W while the SUT has queries in flight"
    )
    config = Config(
        analyzer=PtdConfig(port=port, interval_ms=DEMO_INTERVAL_MS, connect_timeout_s=5.0),
        session=SessionConfig(settle_s=0.2, poll_interval_s=0.25),
    )
    reports = []
    try:
        for scenario in scenarios:
            bench = CpuBenchmark(scenario, seconds, accelerator=True,
                                 on_issue=model.issue, on_complete=model.complete)
            workload = InProcessLoadgen(bench, lead_s(DEMO_INTERVAL_MS))
            session = build_session(
                config, workload,
                out_root=out_root, label=f"demo-{scenario.lower()}", say=say,
                observers=observers, repeat=repeat,
            )
            report = await session.run()
            summary(summary_text(report))
            summary(f"  files: {session.dir}")
            reports.append(report)
    finally:
        await simulator.close()
    return reports
