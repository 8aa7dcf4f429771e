"""The few lines a person reads at the end of a run, from ``report.json``."""

from __future__ import annotations

from typing import Any

from reports.headline import headline, metric_uncertainty, verdict
from reports.multinode import system_lines


def summary_text(report: dict[str, Any]) -> str:
    """A few lines a person reads at the end of a run."""
    power = report["power"]
    metric = headline(report)
    error = metric_uncertainty(report)
    text = metric.text()
    if error is not None and metric.value is not None:
        digits = 3 if metric.unit == "mJ/query" else 2
        text = f"{metric.value:.{digits}f} ± {error:.{digits}f} {metric.unit}{_partial(report)}"
    ranging_watts = report["ranging"]["power"]["avg_watts"]
    lines = [
        f"{report['session']}: {report['scenario']} {text}  [{verdict(report)}]",
        f"  testing: {power['avg_watts'] or 0:.2f} W avg over {power['duration_s']:.3f} s, "
        f"{power['samples_in_window']} samples; ranging: {ranging_watts or 0:.2f} W",
    ]
    lines += _repeat_lines(report.get("repeat"))
    lines += system_lines(report.get("system"))
    lines += [f"  problem: {p}" for p in report["problems"]]
    lines += [f"  warning: {w}" for w in report["warnings"]]
    lines += [f"  unknown: {u}" for u in report.get("unknown", [])]
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    return "\n".join(lines)


def _partial(report: dict[str, Any]) -> str:
    """A ± without the analyzer's accuracy is only the window and clock terms: say so."""
    terms = (report.get("uncertainty") or {}).get("terms_watts", {})
    return " (partial: analyzer accuracy unknown)" if terms.get("analyzer") is None else ""


def repeat_text(repeat: dict[str, Any]) -> str:
    """``mean ± half-width unit (95 % CI [low, high], n runs)``."""
    digits = 3 if repeat.get("unit") == "mJ/query" else 2
    unit = repeat.get("unit", "")
    if repeat.get("ci95") is None:
        mean = repeat.get("mean")
        return "no interval" if mean is None else f"{mean:.{digits}f} {unit} (n={repeat['n']}, no interval)"
    low, high = repeat["ci95"]
    return (f"{repeat['mean']:.{digits}f} ± {repeat['half_width']:.{digits}f} {unit} "
            f"(95 % CI [{low:.{digits}f}, {high:.{digits}f}], sd {repeat['stdev']:.{digits}f}, "
            f"n={repeat['n']})")


def _repeat_lines(repeat: dict[str, Any] | None) -> list[str]:
    if not repeat:
        return []
    digits = 3 if repeat.get("unit") == "mJ/query" else 2
    values = ", ".join("—" if r["value"] is None else f"{r['value']:.{digits}f}" for r in repeat["runs"])
    return [f"  repeat: {repeat_text(repeat)}", f"  runs: {values}"]
