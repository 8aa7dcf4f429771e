"""A multi-node system's power: per node, per switch, and a combined uncertainty budget.

Each measured meter's share is its power on the primary meter's sample intervals inside the
testing window, exactly as ``spl.txt``'s time-merged sum is built (reports.merge), averaged over
the intervals where that meter has data: with every meter complete the shares add up to the
measured system power. ``system_coverage`` says on which intervals every meter had data and which
meter was missing when.
Switches without a meter are estimated as max spec power × provisioning ratio and marked
estimated (mlcommons/training_policies power_measurement.adoc @ 2ddbe8a49d6bbf3e2d8215c7ec750c0f4f21d256,
"Measure or Estimate Interconnects", "Scoring" item 2).

Budget terms per meter, in watts of its share: its analyzer accuracy (its per-sample uncertainty),
clock alignment (the window edges moved by its clock bound), and missing samples (the
intervals where it itself had no data, each possibly as far off as its power swing: one dead
agent costs its own meters' shares, not everyone's). A meter's terms
add linearly (worst case); meters are independent instruments, so they combine as a root sum of
squares. The total is checked against MLPerf Inference Power's 1 % (what this tool measures;
MLPerf Training's power rules ask for 5 % meter accuracy, "Target 5% Accuracy" in the same file).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.meter_records import MeterEvidence
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import AnalyzerRecord, SessionMeta
from analyzer_drivers.formats.window import Window
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.meters.specs import UNCERTAINTY_LIMIT
from reports.checks import Check
from reports.merge import mean_power_over
from reports.metrics import PER_QUERY_SCENARIOS, mlperf_window_mask, sample_intervals
from reports.spl import PowerSeries
from reports.system_model import (
    GroupPower,
    MeterShare,
    MeterTerms,
    MissingRun,
    SystemCoverage,
    SystemSection,
    SystemUncertainty,
)
from reports.uncertainty import STAMP_RESOLUTION_S, clock_error_w

FloatArray = npt.NDArray[np.float64]
#: An analyzer's raw samples of the testing phase, by driver (each journal file read once).
TestingSamples = Callable[[str], PowerSeries]


def _shares(
    samples: TestingSamples, meta: SessionMeta, window: Window, interval_ns: int
) -> tuple[dict[str, FloatArray], FloatArray]:
    """Each measured meter's watts on the primary's in-window intervals (NaN: no data), and the
    intervals' ends."""
    measured = [str(a.driver) for a in meta.analyzers if a.role in ("primary", "sum")]
    primary = samples(measured[0]).sorted_by_time()
    primary = primary.take(mlperf_window_mask(primary, window.begin_ns, window.end_ns))
    starts, ends = sample_intervals(primary.t_ns, interval_ns)
    values = {measured[0]: np.where(primary.watts > 0, primary.watts, np.nan)}
    for driver in measured[1:]:
        other = samples(driver).sorted_by_time()
        values[driver] = mean_power_over(other.t_ns, other.watts, interval_ns, starts, ends)
    return values, np.asarray(ends, dtype=np.float64)


def _coverage(values: dict[str, FloatArray], ends_ns: FloatArray, interval_ns: int) -> SystemCoverage:
    """The fraction of intervals where every meter had data, and each meter's runs without."""
    if not len(ends_ns):
        return SystemCoverage(0.0, ())
    complete = np.all([np.isfinite(v) for v in values.values()], axis=0)
    runs = []
    for driver, watts in values.items():
        missing = ~np.isfinite(watts)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], missing.astype(np.int8), [0]))))
        for first, stop in zip(edges[0::2], edges[1::2], strict=True):
            runs.append(MissingRun(driver, int(ends_ns[first]) - interval_ns, int(ends_ns[stop - 1]),
                                   int(stop - first)))
    runs.sort(key=lambda r: (r.from_ns, r.meter))
    return SystemCoverage(float(np.count_nonzero(complete)) / len(complete), tuple(runs))


def _evidence(meta: SessionMeta, driver: str) -> MeterEvidence | None:
    return meta.phase("testing").meters.get(driver)


def _analyzer_relative(meta: SessionMeta, driver: str, watts: FloatArray) -> float | None:
    """The meter's mean per-sample uncertainty: what the meter (agent) reported, else its spec."""
    evidence = _evidence(meta, driver)
    if evidence is not None and isinstance(evidence.uncertainty_mean, float):
        return float(evidence.uncertainty_mean)
    described = meta.analyzer_of(driver) or AnalyzerRecord()
    setup = MeterSetup.recorded(described.model or "", described.extra)
    ranges = described.ranges.get("testing")
    volts, amps = (ranges.volts, ranges.amps) if ranges else (None, None)
    if setup is None or not volts or not amps or len(watts) == 0:
        if described.role == "primary":
            mean = meta.phase("testing").uncertainty_mean
            return float(mean) if isinstance(mean, float) else None
        return None
    # Only the watts are at hand here: λ counts as 1 (the full range term).
    return float(np.mean([setup.sample_uncertainty(Sample(0, float(w)), volts, amps) for w in watts]))


def _clock_bound_s(meta: SessionMeta, driver: str) -> float:
    evidence = _evidence(meta, driver)
    own = evidence.clock if evidence is not None and evidence.clock and evidence.clock.json_keys else None
    clock = own or meta.clock  # the meter's own clock (a remote meter), else the SUT's
    bound_ns = clock.bound_ns if clock is not None else None
    return max(float(bound_ns or 0) / 1e9, STAMP_RESOLUTION_S)


def _meter_entry(meta: SessionMeta, driver: str, values: FloatArray, duration_s: float) -> MeterShare:
    """One meter's share and terms from its own intervals: its gaps are its own missing term."""
    used = values[np.isfinite(values)]
    watts = float(np.mean(used)) if len(used) else math.nan
    swing_w = float(used.max() - used.min()) if len(used) else 0.0
    missing_fraction = 1.0 - len(used) / len(values) if len(values) else 1.0
    relative = _analyzer_relative(meta, driver, used)
    terms = MeterTerms(analyzer=None if relative is None else relative * watts,
                       clock=clock_error_w(used, duration_s, _clock_bound_s(meta, driver)),
                       missing_samples=missing_fraction * swing_w)
    evidence = _evidence(meta, driver)
    return MeterShare(
        avg_watts=watts, terms_watts=terms,
        budget_watts=sum(v for v in (terms.analyzer, terms.clock, terms.missing_samples) if v is not None),
        analyzer_known=relative is not None, missing_fraction=missing_fraction,
        lost_samples=evidence.lost if evidence else None,
        replayed_samples=evidence.replayed if evidence else None,
        broker_outages=len(evidence.broker_outages or ()) if evidence and evidence.json_keys else None,
    )


def system_section(
    samples: TestingSamples, meta: SessionMeta, window: Window, interval_ns: int
) -> SystemSection | None:
    """``report.json``'s ``system``: None for a single-node session."""
    system = meta.system
    mark = meta.phase("testing").mark
    if system is None or not mark:
        return None
    duration_s = window.duration_s
    values, ends_ns = _shares(samples, meta, window, interval_ns)
    meters = {d: _meter_entry(meta, d, v, duration_s) for d, v in values.items()}
    nodes = {str(n.name): _group(list(n.meters), meters) for n in system.nodes}
    switches = {}
    for switch in system.switches:
        if switch.meter:
            measured = _group([switch.meter], meters)
            switches[str(switch.name)] = GroupPower(measured.avg_watts, measured.budget_watts,
                                                    measured.meters, estimated=False)
        else:
            switches[str(switch.name)] = GroupPower(
                float(switch.estimated_watts or 0.0), 0.0, estimated=True,
                basis=f"max spec {switch.max_spec_watts or 0.0:g} W × provisioning ratio "
                      f"{switch.provisioning_ratio or 0.0:g}",
            )
    total_w = sum(g.avg_watts for g in [*nodes.values(), *switches.values()])
    measured_w = sum(m.avg_watts for m in meters.values())
    budget_w = math.sqrt(sum(m.budget_watts ** 2 for m in meters.values()))
    return SystemSection(
        avg_watts=total_w, measured_watts=measured_w, estimated_watts=total_w - measured_w,
        energy_j=total_w * duration_s, duration_s=duration_s, nodes=nodes, switches=switches, meters=meters,
        uncertainty=SystemUncertainty(budget_w, budget_w / total_w if total_w else math.nan,
                                      UNCERTAINTY_LIMIT,
                                      all(m.analyzer_known for m in meters.values())),
        energy_per_query_mj=total_w * duration_s * 1000 / window.query_count
        if window.scenario in PER_QUERY_SCENARIOS and window.query_count else None,
        coverage=_coverage(values, ends_ns, interval_ns),
    )


def _group(drivers: list[str], meters: dict[str, MeterShare]) -> GroupPower:
    entries = [meters[d] for d in drivers if d in meters]
    return GroupPower(sum(e.avg_watts for e in entries), math.sqrt(sum(e.budget_watts ** 2 for e in entries)),
                      tuple(drivers))


def system_checks(section: SystemSection | None) -> list[Check]:
    if section is None:
        return []
    budget = section.uncertainty
    relative = budget.relative
    if not budget.complete:
        return [Check("system_uncertainty", "unknown",
                      f"combined uncertainty {100 * relative:.2f} % without the accuracy of some meters")]
    if not relative <= budget.limit:
        limit_pct = 100 * budget.limit
        return [Check("system_uncertainty", "fail",
                      f"combined uncertainty {100 * relative:.2f} % is above the {limit_pct:g} % limit")]
    return [Check("system_uncertainty", "pass",
                  f"combined uncertainty {100 * relative:.2f} % of {section.avg_watts:.1f} W")]


def system_lines(section: SystemSection | None) -> list[str]:
    """The summary's lines for a multi-node system: the total, then each node and switch."""
    if section is None:
        return []
    lines = [f"  system: {section.avg_watts:.2f} W ± {section.uncertainty.watts:.2f} W "
             f"({section.measured_watts:.2f} W measured + {section.estimated_watts:.2f} W estimated)"]
    for kind, groups in (("node", section.nodes), ("switch", section.switches)):
        for name, group in groups.items():
            estimated = " (estimated)" if group.estimated else ""
            lines.append(f"    {kind} {name}: {group.avg_watts:.2f} W{estimated}")
    coverage = section.coverage
    if coverage is not None and coverage.missing:
        missing = "; ".join(f"{r.meter} {r.intervals} interval(s) from {r.from_ns}"
                            for r in coverage.missing[:4])
        more = f" (+{len(coverage.missing) - 4} more)" if len(coverage.missing) > 4 else ""
        lines.append(f"    every meter had data on {coverage.fraction:.1%} of the intervals; "
                     f"missing: {missing}{more}")
    return lines
