"""A live progress line on a terminal, as a session observer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from typing import TextIO

from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from power_director.observe.observer import expected_duration_s, phase_elapsed_s
from reports.model.report import SessionReport

REDRAW_EVERY_S = 0.2
TICK_S = 0.5  # the line is redrawn this often even when no sample arrives (a hung meter)
STALE_S = 2.0  # after this long without a sample, the line says so


def phase_label(phase: str) -> str:
    """``ranging``; ``testing (run_1/)``; ``testing run 2 (run_2/)``: the folder it writes."""
    match = re.fullmatch(r"testing_(\d+)", phase)
    if match:
        return f"testing run {match.group(1)} (run_{match.group(1)}/)"
    return "testing (run_1/)" if phase == "testing" else phase


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class ProgressLine:
    """``testing  12.4/60 s  187.3 W  62 samples  0 gaps``, redrawn in place on ``stream``.

    Draws nothing unless ``stream`` is a terminal, so logs and pipes stay clean.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.phase = ""
        self.meta = SessionMeta()
        self.watts: float | None = None
        self.samples = 0
        self.gaps = 0
        self._drawn_s = 0.0
        self._width = 0
        self._sample_s = time.monotonic()

    async def tick(self) -> None:
        """Redraw every ``TICK_S`` until cancelled, so elapsed time moves while a meter hangs."""
        while True:
            await asyncio.sleep(TICK_S)
            if self.phase and self._width:
                self._draw(force=True)

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        self.meta = meta
        if phase in ("completed", "aborted"):
            self.clear()
            return
        self.phase, self.samples, self.gaps, self.watts = phase, 0, 0, None
        self._sample_s = time.monotonic()
        self._draw(force=True)

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        if analyzer != self.meta.primary.driver:
            return  # the line follows the wall meter
        self.samples += len(samples)
        self._sample_s = time.monotonic()
        self.gaps += sum(1 for s in samples if not s.is_valid)
        valid = [s for s in samples if s.is_valid]
        if valid:
            self.watts = valid[-1].watts
        self._draw()

    def on_result(self, report: SessionReport) -> None:
        self.clear()

    def text(self, now_s: float) -> str:
        elapsed_s = phase_elapsed_s(self.meta, self.phase, now_s) or 0.0
        expected_s = expected_duration_s(self.meta, self.phase)
        of = f"/{expected_s:.0f}" if expected_s else ""
        watts = "— W" if self.watts is None else f"{self.watts:.1f} W"
        line = (f"{phase_label(self.phase)}  {elapsed_s:.1f}{of} s  {watts}  "
                f"{plural(self.samples, 'sample')}  {plural(self.gaps, 'gap')}")
        silent_s = time.monotonic() - self._sample_s
        if silent_s > STALE_S:
            line += f"  no sample for {silent_s:.0f} s"
        return line

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or (not force and time.monotonic() - self._drawn_s < REDRAW_EVERY_S):
            return
        line = self.text(time.time())
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)
        self._drawn_s = time.monotonic()

    def say(self, text: str) -> None:
        """Print a line of the session's log above the progress line."""
        self.clear()
        print(text, file=self.stream, flush=True)
        self._drawn_s = 0.0

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
