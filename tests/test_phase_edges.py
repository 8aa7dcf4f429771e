"""``run``'s phases measure two meter intervals alone before and after LoadGen, as ``measure``
does around its command: the samples straddling the window's edges then have neighbours
outside it, and the time-weighted energy of a load that starts and stops inside the window is
the load's own. Without them a straddling sample counts in proportion to its overlap, low by
the load it half missed (tests/test_energy_accuracy.py shows the size on synthetic samples).

The witness is the simulator's load timeline (``CommandModel``: each reading the exact mean over
the interval before its stamp), driven by the real LoadGen's issue/complete calls. The MLPerf
figures count only the samples inside the window; the padding adds none there."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np

from analyzer_drivers.formats.session_layout import phase_dir
from analyzer_drivers.sim.command_model import CommandModel
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import LEAD_INTERVALS, InProcessLoadgen, lead_s
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.assembly import build_session
from reports.metrics import weighted_energy
from reports.model.report import SessionReport
from reports.spl import read_spl
from tests import mlperf_rules
from tests.mlperf_checker import SOURCE_RULES, failed_rules
from tests.test_mlcommons_layout import measure

INTERVAL_MS = 100


class InFlight:
    """The model's load: 1 while LoadGen has queries at the SUT, 0 otherwise."""

    def __init__(self, model: CommandModel) -> None:
        self.model, self.count, self.lock = model, 0, threading.Lock()

    def issue(self, queries: int) -> None:
        with self.lock:
            if self.count == 0:
                self.model.set_load(1.0)
            self.count += queries

    def complete(self, queries: int) -> None:
        with self.lock:
            self.count = max(self.count - queries, 0)
            if self.count == 0:
                self.model.set_load(0.0)


async def _session(out_root: Path, model: CommandModel) -> SessionReport:
    simulator = PtdSimulator(model=model, averaging_ms=INTERVAL_MS)
    port = await simulator.start_server("127.0.0.1", 0)
    work = InFlight(model)
    bench = CpuBenchmark("Offline", 1.5, accelerator=True, on_issue=work.issue, on_complete=work.complete)
    config = Config(analyzer=PtdConfig(port=port, interval_ms=INTERVAL_MS, connect_timeout_s=5.0),
                    session=SessionConfig(settle_s=0.2, poll_interval_s=0.1))
    try:
        session = build_session(config, InProcessLoadgen(bench, lead_s(INTERVAL_MS)), out_root=out_root,
                                label="edges", say=lambda _line: None)
        return await session.run()
    finally:
        await simulator.close()


def test_run_phases_have_samples_beyond_both_edges_and_the_energy_is_the_loads(tmp_path: Path) -> None:
    model = CommandModel(noise_fraction=0.0, interval_ms=INTERVAL_MS)
    report = asyncio.run(_session(tmp_path, model))
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    interval_ns = INTERVAL_MS * 1_000_000
    for phase, section in (("ranging", report.ranging), ("testing", report.testing)):
        assert section is not None and section.power is not None
        window = read_spl(session / phase_dir(phase) / "spl.txt")
        begin_ns, end_ns = _window_ns(session, phase)
        t_ns = window.t_ns
        assert np.count_nonzero(t_ns <= begin_ns) >= LEAD_INTERVALS, phase  # wholly before the window
        assert np.count_nonzero(t_ns - interval_ns >= end_ns) >= LEAD_INTERVALS, phase  # wholly after
        exact_j = model.energy_j(begin_ns, end_ns)
        padded_j = section.power.time_weighted.energy_j
        assert padded_j is not None and abs(padded_j - exact_j) / exact_j < 1e-3, (phase, padded_j, exact_j)
        # The same samples less those beyond the edges (an unpadded phase): never above, often low.
        edge = (t_ns > begin_ns) & (t_ns - interval_ns < end_ns)
        unpadded_j = weighted_energy(t_ns[edge], window.watts[edge], begin_ns, end_ns, interval_ns).energy_j
        assert unpadded_j is not None and unpadded_j <= padded_j + 1e-6, (phase, unpadded_j, padded_j)


def _window_ns(session: Path, phase: str) -> tuple[int, int]:
    from reports.phase_report import read_phase_window

    window = read_phase_window(session / phase_dir(phase), phase)
    return window.begin_ns, window.end_ns


def test_a_padded_session_at_1000_ms_passes_mlcommons_checker(tmp_path: Path) -> None:
    """The padding ``run`` adds at a WT310's 1000 ms (2 s alone before and after LoadGen in
    each phase): every rule of MLCommons' checker restated holds, and the checker itself,
    unmodified (POWER_DEV_DIR), fails only the sources' checksums, as for every session of ours."""
    session = measure(tmp_path, "Offline", 1, lead_s=lead_s(1000))
    for check in mlperf_rules.RULES.values():
        check(session)
    assert failed_rules(session) == SOURCE_RULES
