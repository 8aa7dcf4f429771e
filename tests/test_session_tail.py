"""The warning when a meter gives no sample after the workload ended names how long the
session waited (it once printed the monotonic clock's deadline, i.e. the machine's uptime)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.sim.model_meter import ModelMeter
from analyzer_drivers.sim.models import constant_model
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import TAIL_TIMEOUT_INTERVALS, Session

SPEAKS_S = 0.3  # the meter falls silent this long after each start, long before the workload ends


class FallsSilent(ModelMeter):
    """A model meter that stops reporting ``SPEAKS_S`` after each start (a BMC that froze)."""

    async def start(self, mark: str, interval_ms: int) -> None:
        await super().start(mark, interval_ms)
        self._silent_ns = time.time_ns() + int(SPEAKS_S * 1e9)

    async def poll(self) -> list[Sample]:
        return [s for s in await super().poll() if s.t_ns < self._silent_ns]


def test_the_tail_warning_names_the_wait_not_the_clock(tmp_path: Path) -> None:
    said: list[str] = []
    interval_ms = 200
    config = Config(PtdConfig(interval_ms=interval_ms), SessionConfig(settle_s=0.1))
    session = Session(config, FallsSilent(constant_model(100.0)),
                      InProcessLoadgen(CpuBenchmark("Offline", 1.0, accelerator=True)),
                      out_root=tmp_path, label="silent", say=said.append)
    asyncio.run(session.run())
    warnings = [line for line in said if "no sample after the workload ended" in line]
    assert warnings, said
    expected_s = TAIL_TIMEOUT_INTERVALS * interval_ms / 1000 + 1.0
    for line in warnings:
        (seconds,) = re.findall(r"within ([\d.]+) s", line)
        assert float(seconds) == expected_s  # 1.6 s, not time.monotonic()'s seconds since boot
