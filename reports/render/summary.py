"""The few lines a person reads at the end of a run, from the report."""

from __future__ import annotations

from reports.mlperf.checker_column import CHECKER_KEY, section_lines
from reports.mlperf.eehpc import eehpc_line
from reports.model.headline import headline, metric_uncertainty, verdict
from reports.model.report import RepeatSection, SessionReport, SumMeter
from reports.multinode import system_lines


def summary_text(report: SessionReport) -> str:
    """A few lines a person reads at the end of a run."""
    if report.testing is None:
        return "\n".join([f"{report.session}: no result  [{verdict(report)}]",
                          *(f"  problem: {p}" for p in report.problems)])
    power = report.testing.power
    metric = headline(report)
    error = metric_uncertainty(report)
    text = metric.text()
    if error is not None and metric.value is not None:
        digits = 3 if metric.unit == "mJ/query" else 2
        text = f"{metric.value:.{digits}f} ± {error:.{digits}f} {metric.unit}{_partial(report)}"
    ranging_watts = report.ranging.power.avg_watts if report.ranging else None
    lines = [
        f"{report.session}: {report.scenario} {text}  [{verdict(report)}]",
        f"  testing: {power.avg_watts or 0:.2f} W avg over {power.duration_s:.3f} s, "
        f"{power.samples_in_window} samples; ranging: {ranging_watts or 0:.2f} W",
    ]
    lines += _sum_lines(report.sum)
    lines += _repeat_lines(report.repeat)
    lines += system_lines(report.system)
    lines += [f"  {eehpc_line(report.eehpc)}"] if report.eehpc is not None else []
    lines += [f"  problem: {p}" for p in report.problems]
    lines += [f"  warning: {w}" for w in report.warnings]
    lines += [f"  unknown: {u}" for u in report.unknown]
    lines += [f"  note: {n}" for n in report.notes]
    lines += section_lines(report.extra.get(CHECKER_KEY))
    return "\n".join(lines)


def _partial(report: SessionReport) -> str:
    """A ± without the analyzer's accuracy is only the window and clock terms: say so."""
    analyzer = report.uncertainty.terms_watts.analyzer if report.uncertainty else None
    return " (partial: analyzer accuracy unknown)" if analyzer is None else ""


def _sum_lines(meters: tuple[SumMeter, ...]) -> list[str]:
    """Several supplies summed: each one alone (time-weighted, testing window)."""
    return [f"  supply {m.name} ({m.driver}, {m.role}, every {m.interval_ms} ms): "
            f"{m.avg_watts or 0:.2f} W, {m.energy_j or 0:.2f} J" for m in meters]


def repeat_text(repeat: RepeatSection) -> str:
    """``mean ± half-width unit (95 % CI [low, high], n runs)``."""
    digits = 3 if repeat.unit == "mJ/query" else 2
    stats = repeat.stats
    if stats.ci95 is None or stats.half_width is None or stats.mean is None:
        mean = stats.mean
        return ("no interval" if mean is None
                else f"{mean:.{digits}f} {repeat.unit} (n={stats.n}, no interval)")
    low, high = stats.ci95
    return (f"{stats.mean:.{digits}f} ± {stats.half_width:.{digits}f} {repeat.unit} "
            f"(95 % CI [{low:.{digits}f}, {high:.{digits}f}], sd {stats.stdev or 0:.{digits}f}, "
            f"n={stats.n})")


def _repeat_lines(repeat: RepeatSection | None) -> list[str]:
    if repeat is None:
        return []
    digits = 3 if repeat.unit == "mJ/query" else 2
    values = ", ".join("—" if r.value is None else f"{r.value:.{digits}f}" for r in repeat.runs)
    return [f"  repeat: {repeat_text(repeat)}", f"  runs: {values}"]
