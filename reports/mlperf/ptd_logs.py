"""``power/ptd_logs.txt``: PTDaemon's console lines for what the meter did, in its own text.

The director connects to a running PTDaemon, so it never sees the daemon's console; it
writes the lines MLCommons' checker reads (power-dev ``compliance/check.py``
``check_ptd_logs`` at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2) from its own records: the
uncertainty activation line at Identify, ``Go with mark '<mark>'`` and ``Completed test``
at each Go/Stop, ``ERROR:`` for a refused command, and a ``WARNING:`` for every sample
whose uncertainty (from the meter's accuracy spec at the ranges in use) is over 1 %, at
the sample's time — PTDaemon 1.10+ prints one per such sample
(``WARNING: Uncertainty 1.08%, which is above 1.00% limit for the last sample!``, the
text the checker's ``WARNING_NEEDS_TO_BE_ERROR_TESTING_RE`` matches).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.session_layout import RAW_DIR, samples_path
from analyzer_drivers.formats.session_meta import AnalyzerRecord, SessionMeta
from analyzer_drivers.formats.timefmt import format_mlperf_time
from reports.phase_report import _sample_uncertainty
from reports.spl import PowerSeries, read_spl

UNCERTAINTY_LIMIT = 0.01


def uncertainty_warning(relative: float) -> str:
    return f"WARNING: Uncertainty {100 * relative:.2f}%, which is above 1.00% limit for the last sample!"


def activation_line(driver_name: str) -> str:
    return f"Uncertainty checking for {driver_name} is activated"


def uncertainty_enabled(identify: str) -> bool:
    """PTDaemon's Identify: ``..., mode=power, <uncertainty enabled>, ...``."""
    fields = identify.split(",")
    return "mode=power" in fields and fields[fields.index("mode=power") + 1 :][:1] == ["1"]


def _line(t_ns: int, message: str) -> tuple[int, str]:
    return t_ns, f"{format_mlperf_time(t_ns)}: {message}\n"


def _exchange_lines(events: list[dict[str, Any]], analyzer: AnalyzerRecord) -> list[tuple[int, str]]:
    name, identify = analyzer.name or "", analyzer.identify or ""
    lines = []
    for event in events:
        if event.get("kind") != "exchange":
            continue
        cmd, reply, t_ns = str(event.get("cmd", "")), str(event.get("reply", "")), int(event["t_ns"])
        if cmd == "Identify" and uncertainty_enabled(identify) and name.startswith("Yokogawa"):
            lines.append(_line(t_ns, activation_line(name)))
        elif cmd.startswith("Go,") and reply.startswith("Starting"):
            lines.append(_line(t_ns, f"Go with mark '{cmd.split(',', 3)[3]}'"))
        elif cmd == "Stop" and reply.startswith("Stopping"):
            lines.append(_line(t_ns, "Completed test"))
        elif reply.startswith("Error"):
            lines.append(_line(t_ns, f"ERROR: {cmd}: {reply}"))
    return lines


def _raw_samples(session_dir: Path, meta: SessionMeta) -> PowerSeries | None:
    driver = meta.primary.driver
    raw = samples_path(session_dir / RAW_DIR, str(driver))
    return read_spl(raw) if driver and raw.is_file() else None


def _warning_lines(samples: PowerSeries, meta: SessionMeta) -> list[tuple[int, str]]:
    lines = []
    for phase, recorded in meta.phases.items():
        series = samples.with_mark(str(recorded.mark))
        per_sample = _sample_uncertainty(phase, series, meta)
        if per_sample is None or "accuracy spec" not in per_sample.source:
            continue  # only a mean from the analyzer: no per-sample figure to warn on
        for t_ns, relative in zip(series.t_ns.tolist(), per_sample.relative.tolist(), strict=True):
            if math.isfinite(relative) and relative > UNCERTAINTY_LIMIT:
                lines.append(_line(int(t_ns), uncertainty_warning(relative)))
    return lines


def ptd_log_text(session_dir: Path, meta: SessionMeta, events: list[dict[str, Any]],
                 samples: PowerSeries | None = None) -> str:
    """The whole file, lines in time order (a stable sort keeps same-time lines in order).
    ``samples``: the wall meter's raw samples when the caller has read them already."""
    if samples is None:
        samples = _raw_samples(session_dir, meta)
    lines = _exchange_lines(events, meta.primary)
    lines += _warning_lines(samples, meta) if samples is not None else []
    return "".join(text for _, text in sorted(lines, key=lambda line: line[0]))
