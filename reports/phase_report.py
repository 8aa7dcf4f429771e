"""One phase of a session, computed once: its LoadGen window, its samples, its power."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer_drivers.formats.command_record import read_command_record
from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import phase_dir
from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.formats.window import Window
from analyzer_drivers.meters.accuracy import MeterSetup
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log
from loadgen_bridge.training_log import TrainingLogError, phase_training_window
from reports.clock_report import corrected_window
from reports.comparison import comparison_accuracy, stated_uncertainty
from reports.metrics import WeightedEnergy, mlperf_power, mlperf_window_mask, weighted_energy
from reports.report_parts import Coverage, LoadgenSummary, PhasePower, PhaseSection
from reports.spl import PowerSeries, read_spl, with_channels
from reports.uncertainty import (
    STAMP_RESOLUTION_S,
    SampleUncertainty,
    clock_error_w,
    edge_error_w,
    error_budget,
)


@dataclass(frozen=True)
class PhaseReport:
    phase: str
    window: Window
    series: PowerSeries  # the samples of this phase's mark
    interval_ns: int
    weighted: WeightedEnergy
    sample_uncertainty: SampleUncertainty | None
    power: PhasePower

    def section(self) -> PhaseSection:
        """``report.json``'s ``testing`` or ``ranging``."""
        window = self.window
        return PhaseSection(self.power, LoadgenSummary(
            window.scenario, window.validity, window.result_name, window.result, window.query_count,
            window.samples_per_query, window.min_duration_ms))


def _interval_ns(meta: SessionMeta, series: PowerSeries) -> int:
    interval_ms = meta.interval_ms
    if interval_ms is not None and interval_ms > 0:
        return interval_ms * NS_PER_MS
    steps = np.diff(np.sort(series.t_ns))
    return int(np.median(steps)) if len(steps) else 1_000_000_000


#: How an imported run's evidence adjusts a phase: (phase, window, series) -> (window, series).
Adjust = Callable[[str, Window, PowerSeries], tuple[Window, PowerSeries]]


def phase_report(
    session_dir: Path, phase: str, meta: SessionMeta, adjust: Adjust | None = None,
    window: Window | None = None,
) -> PhaseReport:
    """The phase from its files: its LoadGen window (``window`` when the session read it
    already, as LoadGen wrote it) and its ``spl.txt``, each read once."""
    directory = session_dir / phase_dir(phase)
    if window is None:
        window = read_phase_window(directory, phase)
    window = corrected_window(window, meta, phase)
    series = read_spl(directory / "spl.txt")
    if MeterSetup.recorded(meta.primary.model or "", meta.primary.extra) is not None:
        series = with_channels(directory / "spl.txt", series)  # a Σ reading's elements
    if adjust is not None:
        window, series = adjust(phase, window, series)
    mlperf = mlperf_power(series, window.begin_ns, window.end_ns, window.scenario, window.query_count)
    interval_ns = _interval_ns(meta, series)
    weighted = weighted_energy(series.t_ns, series.watts, window.begin_ns, window.end_ns, interval_ns)
    in_window = series.take(mlperf_window_mask(series, window.begin_ns, window.end_ns))
    uncertainty = _sample_uncertainty(phase, in_window, meta)
    budget = None
    if mlperf.avg_watts is not None:
        budget = error_budget(
            mlperf.avg_watts,
            in_window.watts,
            uncertainty,
            edge_error_w(series.t_ns, series.watts, window.begin_ns, window.end_ns, interval_ns),
            clock_error_w(in_window.watts, mlperf.duration_s, _clock_bound_s(meta)),
        ).part(mlperf.energy_per_query_mj)
    difference_pct = (100 * (weighted.energy_j - mlperf.energy_j) / mlperf.energy_j
                      if mlperf.energy_j and weighted.energy_j else None)
    power = PhasePower(
        avg_watts=mlperf.avg_watts, samples_in_window=mlperf.samples_in_window,
        window_begin=window.power_begin, window_end=window.power_end, duration_s=mlperf.duration_s,
        energy_j=mlperf.energy_j, energy_per_query_mj=mlperf.energy_per_query_mj,
        queries=window.query_count, query_source=window.query_source, time_weighted=weighted,
        coverage=_coverage(mlperf.samples_in_window, weighted, interval_ns, mlperf.duration_s),
        method_difference_pct=difference_pct, uncertainty=budget,
    )
    return PhaseReport(phase, window, series, interval_ns, weighted, uncertainty, power)


def read_phase_window(directory: Path, phase: str) -> Window:
    """The phase's LoadGen window; in Training mode the job's run_start..run_stop; for a command
    measured without LoadGen, its lifetime."""
    try:
        training = phase_training_window(directory)
    except TrainingLogError as exc:
        raise ReportError(f"{phase}: {exc}") from exc
    if training is not None:
        return training
    if not (directory / DETAIL_LOG).is_file():
        command = read_command_record(directory)
        if command is not None:
            return command.window()
    try:
        return parse_detail_log(directory / DETAIL_LOG)
    except LoadgenLogError as exc:
        raise ReportError(f"{phase}: {exc}") from exc


def _coverage(received: int, weighted: WeightedEnergy, interval_ns: int, duration_s: float) -> Coverage:
    return Coverage(
        expected_samples=duration_s / (interval_ns / 1e9),
        received_samples=received,
        invalid_samples=weighted.invalid_samples,
        fraction=weighted.covered_s / duration_s if duration_s > 0 else 0.0,
        gap_count=weighted.gap_count,
        longest_gap_s=weighted.longest_gap_s,
        interval_s=interval_ns / 1e9,
    )


def _clock_bound_s(meta: SessionMeta) -> float:
    bound_ns = meta.clock.bound_ns if meta.clock is not None else None
    return max(float(bound_ns) / 1e9, STAMP_RESOLUTION_S) if bound_ns else STAMP_RESOLUTION_S


def _sample_uncertainty(
    phase: str, in_window: PowerSeries, meta: SessionMeta
) -> SampleUncertainty | None:
    """Per-sample uncertainty from the meter's accuracy spec (a plug's stated accuracy), else
    PTDaemon's reported mean. The spec's ± comes from the function the driver uses as it
    measures (``MeterSetup.sample_uncertainty``), with the crest factor, elements and ranges the
    session recorded and each sample's λ (each element's, for a Σ reading)."""
    stated = comparison_accuracy(meta)
    if stated is not None:
        return stated_uncertainty(stated, in_window.watts)
    setup = MeterSetup.recorded(meta.primary.model or "", meta.primary.extra)
    if setup is not None:
        ranges = meta.ranges.get(phase)
        volts = ranges.volts if ranges else None
        amps = ranges.amps if ranges else None
        relative = np.array([setup.sample_uncertainty(sample, volts, amps)
                             for sample in in_window.samples()], dtype=np.float64)
        return SampleUncertainty(relative, setup.describe())
    mean = meta.phase(phase).uncertainty_mean
    if isinstance(mean, float) and mean >= 0:
        return SampleUncertainty(np.full(len(in_window), mean), "mean uncertainty reported by the analyzer")
    return None
