"""The SUT ↔ director clock in a report: the offset-corrected windows and MLPerf's 400 ms rule.

Reads what the director recorded under ``clock`` in ``session.json`` (see
``power_director.remote.workload.clock_record`` and ``Session.record_clock``); local
sessions have no such key.
"""

from __future__ import annotations

import dataclasses

from analyzer_drivers.formats.session_meta import SessionMeta, Stamps
from analyzer_drivers.formats.timefmt import NS_PER_MS
from analyzer_drivers.formats.window import Window
from reports.checks import Check
from reports.report_parts import ClockSection, ClockWindow, WindowEnds

MLCOMMONS_MAX_CLOCK_DIFF_NS = 400_000_000  # the MLCommons checker's limit, without any correction


def corrected_window(window: Window, meta: SessionMeta, phase: str) -> Window:
    """The window on the director's clock, as the session corrected this phase's window.

    A session.json written before each repeat run had its own correction recorded its last
    testing run's window under ``testing``: a correction whose raw window is not this one is
    not applied (the detail log is then used as written)."""
    correction = meta.phase(phase).correction if meta.remote_clock else None
    raw = correction.raw if correction else None
    corrected = correction.corrected if correction else None
    if raw is None or corrected is None or corrected.begin_ns is None or corrected.end_ns is None \
            or (raw.begin_ns, raw.end_ns) != (window.begin_ns, window.end_ns):
        return window
    return dataclasses.replace(
        window,
        begin_ns=corrected.begin_ns,
        end_ns=corrected.end_ns,
        power_begin=str(corrected.begin),
        power_end=str(corrected.end),
    )


def _window(stamps: Stamps | None) -> tuple[str | None, str | None]:
    return (stamps.begin, stamps.end) if stamps else (None, None)


def clock_section(meta: SessionMeta) -> ClockSection | None:
    """``report.json``'s ``clock``: offset, drift, error bound, raw and corrected windows."""
    clock = meta.remote_clock
    if clock is None or clock.offset_ns is None:
        return None
    windows = {phase: ClockWindow(WindowEnds(*_window(c.raw)), WindowEnds(*_window(c.corrected)))
               for phase, c in meta.corrections().items()}
    return ClockSection(clock.offset_ns / NS_PER_MS, clock.drift_ppm, (clock.bound_ns or 0) / NS_PER_MS,
                        clock.method, windows)


def clock_checks(meta: SessionMeta) -> list[Check]:
    clock = meta.remote_clock
    if clock is None or clock.offset_ns is None:
        return [Check("clock_offset", "pass", "director and SUT share one clock (local mode)")]
    offset_ms = clock.offset_ns / NS_PER_MS
    bound_ms = (clock.bound_ns or 0) / NS_PER_MS
    if abs(clock.offset_ns) > MLCOMMONS_MAX_CLOCK_DIFF_NS:
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
