"""Green500-grade runs: which EEHPC quality level (1, 2, 3) a measurement meets, and why not the next.

Source: Energy Efficient HPC Working Group, "Energy Efficient High Performance Computing Power
Measurement Methodology", version 2.0 RC 1.0 (the document the Green500 links for Level 2/3
submissions). It grades four aspects, and a run gets a level only when every aspect meets it:
(1) granularity, time span and kind of measurement over the core phase, (2) the fraction of the
machine instrumented, (3) the subsystems included (interconnect measured or estimated), (4) where
and how accurately power is measured. What the table below holds per level:

- sampling at ≥ 1 Hz over the whole core phase (every level; v2.0 made Level 1 cover the whole core
  phase instead of a part of it);
- Level 2 and 3: at least 10 readings in the core phase, none longer than 10 % of it;
- meter accuracy 5 / 2 / 1 % (combined across meters);
- the machine fraction: a part at Level 1 and 2, the whole system at Level 3;
- idle power recorded at Level 3; the interconnect counted at Level 2 (measured or estimated) and
  measured at Level 3.

The fraction thresholds (Level 1: the larger of 1/10 of the compute subsystem or 2 kW; Level 2: the
larger of 1/8 or 10 kW) are our reading of the methodology's table 3.1 and could not be checked
against its text here: they are parameters (``Levels``), not constants, and the report names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.formats.window import Window
from reports.model.eehpc_record import EehpcSection, RunFacts
from reports.model.measure import MeasureSection
from reports.phase_report import PhaseReport
from reports.system_model import SystemSection

METHODOLOGY = "EEHPC WG Power Measurement Methodology v2.0 RC 1.0"
NOT_USED = "not used"  # a one-node machine: no interconnect carries its work


@dataclass(frozen=True)
class LevelRule:
    level: int
    accuracy_pct: float
    min_fraction: float  # of the compute subsystem's nodes
    min_measured_kw: float  # ... or this much measured power, whichever is larger (the larger rule)
    min_readings: int
    max_interval_fraction: float  # of the core phase, per reading
    idle_power: bool
    interconnect: tuple[str, ...]  # what counts: "measured", "estimated", "none"


@dataclass(frozen=True)
class Levels:
    rules: tuple[LevelRule, ...] = (
        LevelRule(1, 5.0, 1 / 10, 2.0, 1, 1.0, False, ("measured", "estimated", "none", NOT_USED)),
        LevelRule(2, 2.0, 1 / 8, 10.0, 10, 0.10, False, ("measured", "estimated", NOT_USED)),
        LevelRule(3, 1.0, 1.0, 0.0, 10, 0.10, True, ("measured", NOT_USED)),
    )
    max_interval_s: float = 1.0
    source: str = METHODOLOGY


@dataclass(frozen=True)
class Grade:
    level: int  # 0: not even Level 1
    source: str
    missing: dict[int, tuple[str, ...]] = field(default_factory=dict)  # per level not met: why

    @classmethod
    def of(cls, section: EehpcSection) -> Grade:
        """The grade ``report.json``'s ``eehpc`` holds."""
        return cls(section.level, section.methodology, {int(k): v for k, v in section.not_met.items()})


def _shortfalls(rule: LevelRule, facts: RunFacts, levels: Levels) -> list[str]:
    why = []
    if not facts.covers_core_phase:
        why.append("the measurement does not cover the whole core phase")
    if facts.max_interval_s > levels.max_interval_s:
        why.append(f"a reading every {facts.max_interval_s:.2f} s; "
                   f"at least one per {levels.max_interval_s:g} s")
    if facts.readings_in_core < rule.min_readings:
        why.append(f"{facts.readings_in_core} readings in the core phase; at least {rule.min_readings}")
    if facts.core_phase_s > 0 and facts.max_interval_s > rule.max_interval_fraction * facts.core_phase_s:
        why.append(f"a reading interval of {facts.max_interval_s:.2f} s is over "
                   f"{rule.max_interval_fraction:.0%} of the {facts.core_phase_s:.1f} s core phase")
    if facts.accuracy_pct is None:
        why.append("meter accuracy unknown")
    elif facts.accuracy_pct > rule.accuracy_pct:
        why.append(f"meter accuracy ±{facts.accuracy_pct:.2f} %; at most ±{rule.accuracy_pct:g} %")
    why += _fraction_shortfall(rule, facts)
    if rule.idle_power and facts.idle_watts is None:
        why.append("idle power not recorded")
    if facts.interconnect not in rule.interconnect:
        why.append(f"interconnect {facts.interconnect}; needs {' or '.join(rule.interconnect)}")
    return why


def _fraction_shortfall(rule: LevelRule, facts: RunFacts) -> list[str]:
    fraction = facts.nodes_measured / facts.nodes_total if facts.nodes_total else 0.0
    if rule.min_fraction >= 1.0:
        return [] if fraction >= 1.0 else [f"{facts.nodes_measured} of {facts.nodes_total} nodes measured; "
                                           "the whole system"]
    if fraction >= rule.min_fraction and facts.measured_kw >= rule.min_measured_kw:
        return []
    whole = facts.nodes_measured >= facts.nodes_total > 0  # a small machine measured whole is enough
    if whole:
        return []
    return [f"{fraction:.1%} of the nodes and {facts.measured_kw:.2f} kW measured; the larger of "
            f"{rule.min_fraction:.1%} or {rule.min_measured_kw:g} kW"]


def grade(facts: RunFacts, levels: Levels | None = None) -> Grade:
    """The highest level every aspect meets, and why each higher one is not met."""
    levels = levels or Levels()
    missing = {rule.level: tuple(_shortfalls(rule, facts, levels)) for rule in levels.rules}
    achieved = 0
    for rule in levels.rules:
        if missing[rule.level]:
            break
        achieved = rule.level
    return Grade(achieved, levels.source, {k: v for k, v in missing.items() if v and k > achieved})


def grade_line(result: Grade) -> str:
    head = f"EEHPC level {result.level}" if result.level else "EEHPC: below level 1"
    nxt = min(result.missing) if result.missing else None
    return head if nxt is None else f"{head}; level {nxt} not met: {'; '.join(result.missing[nxt])}"


def sampling_facts(
    t_ns: npt.NDArray[np.int64], interval_ns: int, begin_ns: int, end_ns: int
) -> tuple[int, float, bool]:
    """Readings in the core phase, the longest interval one stands for, and whether the readings
    cover the whole core phase (each stamped at the end of the interval it averages)."""
    stamps = np.sort(t_ns[(t_ns > begin_ns - interval_ns) & (t_ns < end_ns + interval_ns)])
    inside = int(np.count_nonzero((stamps > begin_ns) & (stamps <= end_ns)))
    if len(stamps) == 0:
        return 0, math.inf, False
    gaps_ns = np.diff(np.concatenate(([stamps[0] - interval_ns], stamps)))
    covers = bool(stamps[0] - interval_ns <= begin_ns and stamps[-1] >= end_ns)
    return inside, float(gaps_ns.max()) / 1e9, covers


@dataclass(frozen=True)
class EehpcInputs:
    """What a session's report knows, for ``facts``."""

    t_ns: npt.NDArray[np.int64]  # the primary meter's sample stamps
    interval_ns: int
    begin_ns: int
    end_ns: int
    avg_watts: float
    relative_uncertainty: float | None
    idle_watts: float | None
    nodes_measured: int
    machine_nodes: int | None  # None: the nodes measured are the whole machine
    switches: tuple[bool, ...]  # per switch: measured (True) or estimated (False)


def facts(inputs: EehpcInputs) -> RunFacts:
    readings, max_interval_s, covers = sampling_facts(inputs.t_ns, inputs.interval_ns, inputs.begin_ns,
                                                      inputs.end_ns)
    kinds = {"measured" if measured else "estimated" for measured in inputs.switches}
    interconnect = "none" if not kinds else "measured" if kinds == {"measured"} else "estimated"
    if not kinds and (inputs.machine_nodes or inputs.nodes_measured) == 1:
        interconnect = NOT_USED
    return RunFacts(
        core_phase_s=(inputs.end_ns - inputs.begin_ns) / 1e9, readings_in_core=readings,
        max_interval_s=max_interval_s, covers_core_phase=covers, nodes_measured=inputs.nodes_measured,
        nodes_total=inputs.machine_nodes or inputs.nodes_measured, measured_kw=inputs.avg_watts / 1000,
        accuracy_pct=None if inputs.relative_uncertainty is None else 100 * inputs.relative_uncertainty,
        idle_watts=inputs.idle_watts, interconnect=interconnect,
    )


def eehpc_record(run: RunFacts, result: Grade) -> EehpcSection:
    """``report.json``'s ``eehpc``: the level, why not the next ones, and the facts graded."""
    return EehpcSection(level=result.level, methodology=result.source,
                        not_met={str(k): v for k, v in sorted(result.missing.items())}, facts=run)


def eehpc_section(
    meta: SessionMeta, series_t_ns: npt.NDArray[np.int64], interval_ns: int, window: Window,
    avg_watts: float | None, relative_uncertainty: float | None, idle_watts: float | None,
) -> EehpcSection | None:
    """The grade of a session: its testing window is the core phase; the primary's readings."""
    if avg_watts is None or not math.isfinite(avg_watts):
        return None
    system = meta.system
    nodes = len(system.nodes) if system is not None and system.nodes else 1
    switches = tuple(bool(s.meter) for s in system.switches) if system is not None else ()
    run = facts(EehpcInputs(series_t_ns, interval_ns, window.begin_ns, window.end_ns, avg_watts,
                            relative_uncertainty, idle_watts, nodes, meta.machine_nodes, switches))
    return eehpc_record(run, grade(run))


def eehpc_line(section: EehpcSection) -> str:
    """One line from ``report.json``'s ``eehpc``: the level, and why the next is not met."""
    return grade_line(Grade.of(section))


def session_eehpc(meta: SessionMeta, testing: PhaseReport, system: SystemSection | None,
                  measure: MeasureSection | None) -> EehpcSection | None:
    """The grade of a measured command or a multi-node run (None for any other session): the
    testing window as the core phase, the system's combined uncertainty where there is one."""
    if measure is None and system is None:
        return None
    power = testing.power
    budget = power.uncertainty
    relative = system.uncertainty.relative if system is not None else budget.relative if budget else None
    idle = measure.runs[0].idle_watts if measure is not None and measure.runs else None
    return eehpc_section(meta, testing.series.t_ns, testing.interval_ns, testing.window,
                         system.avg_watts if system is not None else power.avg_watts,
                         relative if isinstance(relative, float) else None,
                         idle)
