"""MLPerf Training power files and their energy, as MLCommons' tools read them.

Layout and format: mlperf_logging 4.1.68 (PyPI). ``package_checker/power_checker.py`` wants, beside
each ``result_<i>.txt``, a folder ``power/result_<i>/`` of ``node_<k>.txt`` and ``sw_<k>.txt`` files
numbered from 0 and the same count in every run. ``result_summarizer._compute_power_node`` reads a
node file: ``power_measurement_start``, ``conversion_eff`` (its ``value``), one ``power_reading`` per
sample (``value`` in W), ``power_measurement_stop``; ``_compute_power_sw`` reads a switch file's
``conversion_eff`` and ``interconnect_power_est``. The files are written with mlperf_logging's own
``mllog`` logger (the ``training`` extra), never by hand.

Energy. The Training rules (mlcommons/training_policies power_measurement.adoc @ 2ddbe8a4,
"Scoring") sum "a power reading × duration between the previous reading and the current reading"
for a measured node, and "maximum specified power × duration of a run × provisioning ratio" for an
estimated interconnect. The summarizer does exactly that from ``power_measurement_start``, then
scales the node's sum to the run: × time_to_train / (stop − start), × conversion_eff.
``rule_energy_j`` restates that arithmetic (same millisecond stamps, so it equals the summarizer to
rounding); ``window_energy_j`` is the energy inside run_start..run_stop itself, with each reading
standing for the interval before it (what an averaging meter reports). The two differ by how much
the power outside the run (the measurement's margins) differs from the power inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import (
    RAW_DIR,
    phase_dir,
    read_session_meta,
    repeat_phase,
    samples_path,
)
from analyzer_drivers.formats.session_meta import SessionMeta, SwitchRecord
from analyzer_drivers.formats.window import Window
from loadgen_bridge.training_log import TRAINING_LOG, phase_training_window
from reports.merge import mean_power_over
from reports.spl import read_spl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MEASUREMENT_TYPES = ("AC", "DC")


@dataclass(frozen=True)
class NodeReadings:
    """One node's power during one run: readings stamped at the end of their interval (ms)."""

    host: str
    t_ms: IntArray
    watts: FloatArray
    start_ms: int  # power_measurement_start: just before the run
    stop_ms: int  # power_measurement_stop: just after it


@dataclass(frozen=True)
class SwitchPower:
    host: str
    estimated_watts: float | None  # max spec power × provisioning ratio; None: measured
    readings: NodeReadings | None = None


@dataclass(frozen=True)
class RunEnergy:
    """One run's energy by the Training rule (what the summarizer computes) and inside its window."""

    rule_j: float
    window_j: float
    nodes_j: dict[str, float]
    switches_j: dict[str, float]


def _mllog() -> tuple[Any, Any]:
    """mlperf_logging's ``mllog`` and its constants (the optional ``training`` extra)."""
    try:
        from mlperf_logging.mllog import constants, mllog
    except ImportError:
        raise ReportError("writing MLPerf Training power logs needs mlperf-logging: "
                          "pip install 'power-director[training]'") from None
    return mllog, constants


@contextmanager
def _power_log(path: Path, start_ms: int, stop_ms: int, conversion_eff: float,
               measurement_type: str) -> Iterator[Any]:
    mllog, constants = _mllog()
    logger = logging.Logger(f"power-director-training-{path}")  # not registered: one per file
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.FileHandler(path, mode="w", encoding="utf-8"))
    writer = mllog.MLLogger(logger=logger)
    try:
        writer.start(key=constants.POWER_MEASUREMENT_START, time_ms=start_ms)
        writer.event(key=constants.CONVERTION_EFF, value=conversion_eff, time_ms=start_ms,
                     metadata={"measurement_type": measurement_type})
        yield writer
        writer.end(key=constants.POWER_MEASUREMENT_STOP, time_ms=stop_ms)
    finally:
        for handler in logger.handlers:
            handler.close()


def write_node_log(path: Path, node: NodeReadings, conversion_eff: float = 1.0,
                   measurement_type: str = "AC") -> None:
    _, constants = _mllog()
    with _power_log(path, node.start_ms, node.stop_ms, conversion_eff, measurement_type) as writer:
        for t_ms, watts in zip(node.t_ms.tolist(), node.watts.tolist(), strict=True):
            writer.event(key=constants.POWER_READING, value=watts, time_ms=t_ms, metadata={"host": node.host})


def write_switch_log(path: Path, switch: SwitchPower, start_ms: int, stop_ms: int,
                     conversion_eff: float = 1.0, measurement_type: str = "AC") -> None:
    _, constants = _mllog()
    if switch.readings is not None:
        write_node_log(path, switch.readings, conversion_eff, measurement_type)
        return
    with _power_log(path, start_ms, stop_ms, conversion_eff, measurement_type) as writer:
        writer.event(key=constants.INTERCONNECT_POWER_EST, value=switch.estimated_watts, time_ms=start_ms,
                     metadata={"host": switch.host})


def rule_node_energy_j(node: NodeReadings, time_to_train_ms: int, conversion_eff: float = 1.0) -> float:
    """The Training rule's energy of one measured node over the run (the summarizer's arithmetic)."""
    inside = (node.t_ms >= node.start_ms) & (node.t_ms <= node.stop_ms)
    t_ms, watts = node.t_ms[inside], node.watts[inside]
    order = np.argsort(t_ms, kind="stable")
    t_ms, watts = t_ms[order], watts[order]
    previous = np.concatenate(([node.start_ms], t_ms[:-1]))
    watt_ms = float(np.sum(watts * (t_ms - previous)))
    span_ms = node.stop_ms - node.start_ms
    if span_ms <= 0:
        raise ReportError(f"{node.host}: power_measurement_stop is not after power_measurement_start")
    return conversion_eff * watt_ms * time_to_train_ms / span_ms / 1000


def window_node_energy_j(node: NodeReadings, run_start_ms: int, run_stop_ms: int) -> float:
    """Energy inside run_start..run_stop, each reading standing for the interval before it."""
    t_ms = node.t_ms.astype(np.float64)
    begins = np.concatenate(([float(node.start_ms)], t_ms[:-1]))
    overlap = np.clip(np.minimum(t_ms, run_stop_ms) - np.maximum(begins, run_start_ms), 0, None)
    return float(np.sum(node.watts * overlap)) / 1000


def run_energy(nodes: Sequence[NodeReadings], switches: Sequence[SwitchPower], run_start_ms: int,
               run_stop_ms: int, conversion_eff: float = 1.0) -> RunEnergy:
    """Energy of one run: every node and switch, by the Training rule and inside the window."""
    ttt_ms = run_stop_ms - run_start_ms
    nodes_j = {n.host: rule_node_energy_j(n, ttt_ms, conversion_eff) for n in nodes}
    window_j = sum(conversion_eff * window_node_energy_j(n, run_start_ms, run_stop_ms) for n in nodes)
    switches_j = {}
    for switch in switches:
        if switch.readings is None:
            switches_j[switch.host] = conversion_eff * float(switch.estimated_watts or 0.0) * ttt_ms / 1000
            window_j += switches_j[switch.host]
        else:
            switches_j[switch.host] = rule_node_energy_j(switch.readings, ttt_ms, conversion_eff)
            window_j += conversion_eff * window_node_energy_j(switch.readings, run_start_ms, run_stop_ms)
    return RunEnergy(sum(nodes_j.values()) + sum(switches_j.values()), window_j, nodes_j, switches_j)


def write_run(
    benchmark_dir: Path, index: int, training_log: str, nodes: Sequence[NodeReadings],
    switches: Sequence[SwitchPower], conversion_eff: float = 1.0, measurement_type: str = "AC",
) -> Path:
    """``result_<index>.txt`` and ``power/result_<index>/{node,sw}_<k>.txt`` under ``benchmark_dir``."""
    if measurement_type not in MEASUREMENT_TYPES:
        raise ReportError(f"measurement_type {measurement_type!r} is not AC or DC")
    if not nodes:
        raise ReportError("a Training power result needs at least one measured node")
    power_dir = benchmark_dir / "power" / f"result_{index}"
    power_dir.mkdir(parents=True, exist_ok=True)
    (benchmark_dir / f"result_{index}.txt").write_text(training_log, encoding="utf-8")
    for k, node in enumerate(nodes):
        write_node_log(power_dir / f"node_{k}.txt", node, conversion_eff, measurement_type)
    start_ms = min(n.start_ms for n in nodes)
    stop_ms = max(n.stop_ms for n in nodes)
    for k, switch in enumerate(switches):
        write_switch_log(power_dir / f"sw_{k}.txt", switch, start_ms, stop_ms,
                         conversion_eff, measurement_type)
    return power_dir


@dataclass(frozen=True)
class TreeRun:
    index: int
    phase: str
    energy: RunEnergy
    power_dir: Path


def _phases(meta: SessionMeta) -> list[str]:
    return [p for p in (repeat_phase(k) for k in range(1, len(meta.phases) + 1)) if meta.phase(p).mark]


def _meter_series(raw_dir: Path, driver: str, mark: str) -> tuple[IntArray, FloatArray]:
    series = read_spl(samples_path(raw_dir, driver)).with_mark(mark).sorted_by_time()
    valid = series.watts > 0  # −1 error, −2 missing: no reading (the rule's Δt spans the gap)
    return series.t_ns[valid], series.watts[valid]


def _node_readings(
    host: str, meters: Sequence[tuple[IntArray, FloatArray]], interval_ns: int, window: Window
) -> NodeReadings:
    """One node's readings over the run: its first meter's readings whose interval overlaps
    run_start..run_stop ("begins just before a run starts and stops just afterwards"), with every
    other meter's mean power over each of those intervals added (reports.merge); an interval
    another meter missed is left out. power_measurement_start is the first interval's start."""
    t_ns, watts = meters[0]
    overlaps = (t_ns > window.begin_ns) & (t_ns - interval_ns < window.end_ns)
    t_ns, watts = t_ns[overlaps], watts[overlaps]
    total = watts.copy()
    starts, ends = (t_ns - interval_ns).astype(np.float64), t_ns.astype(np.float64)
    for other_t_ns, other_watts in meters[1:]:
        total = total + mean_power_over(other_t_ns, other_watts, interval_ns, starts, ends)
    keep = np.isfinite(total)
    if not np.any(keep):
        raise ReportError(f"{host}: no reading in the run")
    t_ms = np.round(t_ns[keep] / 1e6).astype(np.int64)
    return NodeReadings(host, t_ms, total[keep], int(t_ms[0] - interval_ns // 1_000_000), int(t_ms[-1]))


def _system(meta: SessionMeta) -> tuple[list[tuple[str, list[str]]], list[SwitchRecord]]:
    """The nodes and their meters (one node of every measured meter without ``[[node]]`` tables)."""
    if meta.system is not None and meta.system.nodes:
        nodes = [(str(n.name), list(n.meters)) for n in meta.system.nodes]
        return nodes, list(meta.system.switches)
    measured = [str(a.driver) for a in meta.analyzers if a.role in ("primary", "sum")]
    return [(meta.system_name or "node_0", measured)], []


def training_tree(
    session_dir: Path, benchmark_dir: Path, conversion_eff: float = 1.0, measurement_type: str = "AC",
) -> list[TreeRun]:
    """One Training-mode session's runs as mlperf_logging's tree under ``benchmark_dir``."""
    meta = read_session_meta(session_dir)
    raw_dir = session_dir / RAW_DIR
    nodes, switches = _system(meta)
    runs = []
    for index, phase in enumerate(_phases(meta)):
        phase_path = session_dir / phase_dir(phase)
        window = phase_training_window(phase_path)
        if window is None:
            raise ReportError(f"{session_dir}: {phase} was not measured in Training mode (no {TRAINING_LOG})")
        mark = str(meta.phase(phase).mark)
        interval_ns = meta.sampling_ms * 1_000_000
        readings = [_node_readings(host, [_meter_series(raw_dir, d, mark) for d in drivers], interval_ns,
                                   window) for host, drivers in nodes]
        power = [SwitchPower(str(s.name), s.estimated_watts,
                             _node_readings(str(s.name), [_meter_series(raw_dir, s.meter, mark)], interval_ns,
                                            window) if s.meter else None) for s in switches]
        log = (phase_path / TRAINING_LOG).read_text(encoding="utf-8", errors="replace")
        power_dir = write_run(benchmark_dir, index, log, readings, power, conversion_eff, measurement_type)
        energy = run_energy(readings, power, window.begin_ns // 1_000_000, window.end_ns // 1_000_000,
                            conversion_eff)
        runs.append(TreeRun(index, phase, energy, power_dir))
    return runs
