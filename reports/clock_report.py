"""The SUT ↔ director clock in a report: the offset-corrected windows and MLPerf's 400 ms rule.

Reads what the director recorded under ``clock`` in ``session.json`` (see
``power_director.remote_workload.clock_meta``); local sessions have no such key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.formats.window import Window
from reports.checks import Check
from reports.report_parts import ClockSection, ClockWindow

MLCOMMONS_MAX_CLOCK_DIFF_NS = 400_000_000  # the MLCommons checker's limit, without any correction


def _clock(meta: dict[str, Any]) -> dict[str, Any] | None:
    clock = meta.get("clock")
    return clock if isinstance(clock, dict) and isinstance(clock.get("offset_ns"), int) else None


def corrected_window(window: Window, meta: dict[str, Any], phase: str) -> Window:
    """The window on the director's clock, if the director recorded one for exactly this window."""
    clock = _clock(meta)
    entry = clock.get("phases", {}).get(phase) if clock else None
    if not isinstance(entry, dict):
        return window
    raw, corrected = entry.get("raw", {}), entry.get("corrected", {})
    if (raw.get("begin_ns"), raw.get("end_ns")) != (window.begin_ns, window.end_ns):
        return window  # the detail log is not the one the director corrected: use it as written
    return dataclasses.replace(
        window,
        begin_ns=int(corrected["begin_ns"]),
        end_ns=int(corrected["end_ns"]),
        power_begin=str(corrected["begin"]),
        power_end=str(corrected["end"]),
    )


def clock_section(meta: dict[str, Any]) -> ClockSection | None:
    """``report.json``'s ``clock``: offset, drift, error bound, raw and corrected windows."""
    clock = _clock(meta)
    if clock is None:
        return None
    windows = {
        phase: ClockWindow(entry["raw"]["begin"], entry["raw"]["end"],
                           entry["corrected"]["begin"], entry["corrected"]["end"])
        for phase, entry in clock.get("phases", {}).items()
    }
    return ClockSection(clock["offset_ns"] / NS_PER_MS, clock.get("drift_ppm"),
                        clock.get("bound_ns", 0) / NS_PER_MS, clock.get("method"), windows)


def clock_checks(meta: dict[str, Any]) -> list[Check]:
    clock = _clock(meta)
    if clock is None:
        return [Check("clock_offset", "pass", "director and SUT share one clock (local mode)")]
    offset_ms = clock["offset_ns"] / NS_PER_MS
    bound_ms = clock.get("bound_ns", 0) / NS_PER_MS
    if abs(clock["offset_ns"]) > MLCOMMONS_MAX_CLOCK_DIFF_NS:
        return [
            Check(
                "clock_offset",
                "warning",
                f"SUT clock is {offset_ms:+.1f} ms off the director's (over 400 ms): windows "
                f"here are offset-corrected (±{bound_ms:.2f} ms), but the MLCommons checker "
                "will misalign them unless the clocks are NTP-synchronised",
            )
        ]
    return [
        Check(
            "clock_offset",
            "pass",
            f"SUT clock is {offset_ms:+.1f} ms (±{bound_ms:.2f} ms) off the director's, "
            "within 400 ms; windows offset-corrected",
        )
    ]
