"""A training job as a workload: measured like any command (``measure``), its window the job's
own ``run_start``..``run_stop`` from its MLLOG lines (its output, or the file it logs to)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from analyzer_drivers.formats.command_record import COMMAND_OUTPUT
from analyzer_drivers.formats.window import Window
from loadgen_bridge.command_run import MeasuredCommand
from loadgen_bridge.training_log import TRAINING_LOG, TrainingLogError, phase_training_window
from loadgen_bridge.workload import WorkloadError


@dataclass
class TrainingCommand(MeasuredCommand):
    """``mllog``: the file the job writes its MLLOG lines to (copied into the phase directory after
    each run, so a job that reuses one path keeps every run's log); None: its output."""

    mllog: Path | None = None

    async def run(self, phase: str, log_dir: Path) -> Window | None:
        await super().run(phase, log_dir)
        source = self.mllog if self.mllog is not None else log_dir / COMMAND_OUTPUT
        if not source.is_file():
            raise WorkloadError(f"the training job wrote no MLLOG file at {source} ({phase} phase)")
        shutil.copyfile(source, log_dir / TRAINING_LOG)
        try:
            return phase_training_window(log_dir)
        except TrainingLogError as exc:
            raise WorkloadError(f"{exc} ({phase} phase)") from None
