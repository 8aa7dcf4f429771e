"""``power-director measure -- CMD``: sessions over any command (no LoadGen needed), one per
side and run when two commands alternate, each a full session (samples, journal, report,
index entry); with ``--meter sim`` a simulator in this process whose power follows the command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer_drivers.base import Analyzer, AnalyzerError
from analyzer_drivers.formats.command_record import SoftwareEstimate
from analyzer_drivers.meters.nvml import NvmlAnalyzer
from analyzer_drivers.meters.rapl import RaplAnalyzer
from analyzer_drivers.sim.command_model import CommandModel, EstimateModel, default_load
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.command_run import CommandListener, Echo, MeasuredCommand
from loadgen_bridge.training_run import TrainingCommand
from loadgen_bridge.workload import lead_s
from power_director.config.loader import Config, ExtraAnalyzer, SessionConfig
from power_director.config.meters.nvml import NvmlConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.config.meters.rapl import RaplConfig
from power_director.observe.observer import SessionObserver
from power_director.session.assembly import build_session
from power_director.session.recording import record_session
from reports.model.report import SessionReport

SIM_INTERVAL_MS = 100
JOULES_PER_KWH = 3.6e6
RAPL_ROOT = RaplConfig.rapl_root


@dataclass
class MeasurePlan:
    """What ``measure`` was asked for."""

    argv: list[str]
    b_argv: list[str] | None = None  # alternate with this command: A, B, A, B…
    repeat: int = 1
    idle_s: float = 0.0
    work_regex: re.Pattern[str] | None = None
    work_unit: str | None = None
    label: str | None = None
    estimates: bool = True  # RAPL/NVML where present, CodeCarbon where installed
    sim_estimate: bool = False  # --meter sim: a second simulated meter as a stand-in estimate
    training: bool = False  # the window is the job's MLLOG run_start..run_stop (``training``)
    mllog: Path | None = None  # where the job logs its MLLOG lines (None: its output)

    def label_of(self, side: str) -> str:
        base = self.label or f"measure-{Path(self.argv[0]).name or 'command'}"
        return base if self.b_argv is None else f"{base}-{side}"


@dataclass
class MeasuredSession:
    side: str  # "A", or "B" for the alternate command
    directory: Path
    report: SessionReport
    exit_codes: list[int] = field(default_factory=list)


class SimListener(CommandListener):
    """Feeds the command's lifetime and its ``sim-load`` lines to the simulator's model."""

    def __init__(self, model: CommandModel) -> None:
        self.model = model

    def command_started(self) -> None:
        self.model.command_started()

    def command_ended(self) -> None:
        self.model.command_ended()

    def channel_line(self, words: list[str]) -> bool:
        if words[0] == "sim-load" and len(words) == 2:
            self.model.set_load(float(words[1]))
            return True
        return False


class CodeCarbonListener(CommandListener):
    """CodeCarbon's tracker over exactly each run of the command (offline: no network)."""

    def __init__(self) -> None:
        self._tracker: object | None = None
        self._result: SoftwareEstimate | None = None

    def command_started(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)  # its INFO lines would mix with the command's
        try:
            tracker = OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False, log_level="error",
                                              measure_power_secs=1, allow_multiple_runs=True)
            tracker.start()
            self._tracker = tracker
        except Exception as exc:  # the estimate is informative: its failure never stops a measurement
            self._tracker, self._result = None, SoftwareEstimate.new(source="codecarbon", error=str(exc))

    def command_ended(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return
        try:
            tracker.stop()  # type: ignore[attr-defined]
            kwh = float(tracker.final_emissions_data.energy_consumed)  # type: ignore[attr-defined]
            self._result = SoftwareEstimate.new(source="codecarbon", energy_j=kwh * JOULES_PER_KWH)
        except Exception as exc:
            self._result = SoftwareEstimate.new(source="codecarbon", error=str(exc))

    def estimate(self) -> SoftwareEstimate | None:
        result, self._result = self._result, None
        return result


def codecarbon_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("codecarbon") is not None


async def _present(analyzer: Analyzer) -> bool:
    try:
        async with analyzer:
            return True
    except AnalyzerError:
        return False


async def with_software_meters(config: Config, rapl_root: str = RAPL_ROOT) -> Config:
    """The config with RAPL and NVML added as ``beside`` meters where this host has them."""
    configured = {extra.meter.type for extra in config.extra_analyzers} | {config.analyzer.type}
    interval_ms = config.analyzer.interval_ms
    added = []
    if RaplConfig.type not in configured and await _present(RaplAnalyzer(rapl_root)):
        added.append(ExtraAnalyzer("beside", RaplConfig(rapl_root=rapl_root, interval_ms=interval_ms)))
    if NvmlConfig.type not in configured and await _present(NvmlAnalyzer()):
        added.append(ExtraAnalyzer("beside", NvmlConfig(interval_ms=interval_ms)))
    return dataclasses.replace(config, extra_analyzers=(*config.extra_analyzers, *added))


@contextlib.asynccontextmanager
async def sim_meter(
    out_dir: Path, with_estimate: bool
) -> AsyncIterator[tuple[Config, list[CommandListener]]]:
    """A PTDaemon simulator on loopback whose power follows the measured command (and, asked
    for, a second one standing in for a software estimate)."""
    model = CommandModel(default_load=default_load(), interval_ms=SIM_INTERVAL_MS)
    simulators = [PtdSimulator(model=model, averaging_ms=SIM_INTERVAL_MS)]
    if with_estimate:
        simulators.append(PtdSimulator(model=EstimateModel(model), averaging_ms=SIM_INTERVAL_MS))
    try:
        ports = [await sim.start_server("127.0.0.1", 0) for sim in simulators]
        meters = [PtdConfig(port=port, interval_ms=SIM_INTERVAL_MS, connect_timeout_s=5.0)
                  for port in ports]
        extras = tuple(ExtraAnalyzer("beside", m) for m in meters[1:])
        config = Config(analyzer=meters[0], extra_analyzers=extras,
                        session=SessionConfig(settle_s=0.2, poll_interval_s=0.1, out_dir=str(out_dir)))
        yield config, [SimListener(model)]
    finally:
        for sim in simulators:
            await sim.close()


async def measure_sessions(
    plan: MeasurePlan, config: Config, out_root: Path, *, listeners: Sequence[CommandListener] = (),
    say: Callable[[str], None] = print, echo: Echo | None = None,
    observers: Sequence[SessionObserver] = (),
) -> list[MeasuredSession]:
    """One session of ``repeat`` runs; or, with a B command, ``repeat`` sessions of each side
    in turn (A, B, A, B…) so that drift falls on both alike."""
    if plan.estimates:
        config = await with_software_meters(config)
        if codecarbon_installed():
            listeners = [*listeners, CodeCarbonListener()]
    sides = [("A", plan.argv)] if plan.b_argv is None else [("A", plan.argv), ("B", plan.b_argv)]
    rounds = 1 if plan.b_argv is None else plan.repeat
    done: list[MeasuredSession] = []
    for _ in range(rounds):
        for side, argv in sides:
            lead = lead_s(config.analyzer.interval_ms, config.session.lead_intervals)
            workload = (TrainingCommand(argv, plan.idle_s, plan.work_regex, plan.work_unit, listeners, echo,
                                        lead_s=lead, mllog=plan.mllog) if plan.training else
                        MeasuredCommand(argv, plan.idle_s, plan.work_regex, plan.work_unit, listeners, echo,
                                        lead_s=lead))
            session = build_session(
                config, workload, out_root=out_root, label=plan.label_of(side), say=say,
                observers=observers, repeat=plan.repeat if plan.b_argv is None else 1, ranging=False)
            report = await session.run()
            record_session(config, session.dir)
            done.append(MeasuredSession(side, session.dir, report, workload.exit_codes))
    return done
