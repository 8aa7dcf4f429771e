"""What the director sees while power-dev's own server measures: PTDaemon's ``-l`` sample log,
followed as it grows, for live progress, and the range advice once ranging is done.

The log's lines are ``Time,<stamp>,Watts,<w>,Volts,<v>,Amps,<a>,PF,<pf>,Mark,<mark>[,Ch1,…]``
(power-dev lib/server.py ``RE_PTD_LOG`` at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2; its
``max_volts_amps_avg_watts`` reads the same file after ranging). power-dev's server names
the file in its log: ``Analyzer [1] is running PTDaemon: [..., '-l', '<path>', ...]``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analyzer_drivers.meters.specs import advise_ranges, meter_spec

LOG_PATH_IN_SERVER_LINE = re.compile(r"is running PTDaemon: \[.*?'-l', '([^']+)'")
#: PTDaemon device type → the meter table that describes its ranges (power-dev's MAX_RANGE_FOR_DEVICE
#: names: 8 WT210, 49 WT310, 52 WT330, 77 WT330_multichannel).
DEVICE_MODELS = {8: "WT210", 49: "WT310", 52: "WT330", 77: "WT330"}
PROGRESS_EVERY_S = 10.0


@dataclass
class MarkTally:
    samples: int = 0
    last_watts: float = math.nan
    min_watts: float = math.inf
    max_volts: float = -math.inf
    max_amps: float = -math.inf

    def add(self, watts: float, volts: float, amps: float) -> None:
        self.samples += 1
        self.last_watts = watts
        if watts > 0:
            self.min_watts = min(self.min_watts, watts)
        self.max_volts, self.max_amps = max(self.max_volts, volts), max(self.max_amps, amps)


def read_sample_line(line: str) -> tuple[str, float, float, float] | None:
    """(mark, watts, volts, amps) of one log line; None for anything else."""
    fields = line.rstrip("\r\n").split(",")
    if len(fields) < 12 or fields[0] != "Time" or fields[2] != "Watts" or fields[10] != "Mark":
        return None
    try:
        return fields[11], float(fields[3]), float(fields[5]), float(fields[7])
    except ValueError:
        return None


@dataclass
class SampleLogWatch:
    """Follows one PTDaemon sample log; ``poll`` reads what was added since the last call."""

    path: Path
    tallies: dict[str, MarkTally] = field(default_factory=dict)
    _offset: int = 0
    _partial: str = ""

    def poll(self) -> list[str]:
        """Marks that got samples in this read."""
        try:
            with self.path.open("rb") as log:
                if log.seek(0, 2) < self._offset:  # a new daemon started the file again
                    self._offset, self._partial = 0, ""
                log.seek(self._offset)
                chunk = log.read()
        except OSError:
            return []
        self._offset += len(chunk)
        text = self._partial + chunk.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()
        touched: list[str] = []
        for line in lines:
            sample = read_sample_line(line)
            if sample is None:
                continue
            mark, watts, volts, amps = sample
            self.tallies.setdefault(mark, MarkTally()).add(watts, volts, amps)
            if mark not in touched:
                touched.append(mark)
        return touched

    def progress(self, mark: str) -> str:
        tally = self.tallies[mark]
        return f"  {mark}: {tally.samples} samples, last {tally.last_watts:.1f} W"


def range_advice(tally: MarkTally, device_type: int, channels: int) -> str | None:
    """The director's range advice from what ranging saw: a warning when the testing ranges
    it implies would leave the weakest sample above 1 % uncertainty; None when fine or unknown."""
    spec = meter_spec(DEVICE_MODELS.get(device_type, ""))
    if spec is None or tally.samples == 0 or not math.isfinite(tally.min_watts):
        return None
    advice = advise_ranges(spec, tally.max_volts, tally.max_amps, tally.min_watts, elements=max(1, channels))
    return advice.warning


def ptd_log_path(server_line: str) -> Path | None:
    found = LOG_PATH_IN_SERVER_LINE.search(server_line)
    return Path(found.group(1)) if found else None


@dataclass
class EngineWatch:
    """Turns power-dev's server output and PTDaemon's log into progress lines and advice."""

    say: Callable[[str], None]
    device_type: int
    channels: int
    logs: list[SampleLogWatch] = field(default_factory=list)
    advised: set[str] = field(default_factory=set)  # the ranging marks advised on
    server_lines: list[str] = field(default_factory=list)  # the last few, for an error message
    said_s: dict[str, float] = field(default_factory=dict)  # when each mark's progress was said

    def on_server_line(self, line: str) -> None:
        self.server_lines[:] = [*self.server_lines[-9:], line]
        path = ptd_log_path(line)
        if path is not None and all(watch.path != path for watch in self.logs):
            self.logs.append(SampleLogWatch(path))

    def tick(self) -> None:
        now_s = time.monotonic()
        for watch in self.logs[:1]:  # the first analyzer's log: the progress of the session
            for mark in watch.poll():
                if now_s - self.said_s.get(mark, -math.inf) >= PROGRESS_EVERY_S:
                    self.said_s[mark] = now_s
                    self.say(watch.progress(mark))
            self._advise(watch)

    def _advise(self, watch: SampleLogWatch) -> None:
        """Once a session's testing run started (power-dev marks ``<session>_ranging`` and
        ``<session>_testing``), what its ranging implies, once."""
        for mark in [m for m in watch.tallies if m.endswith("_ranging") and m not in self.advised]:
            if mark.removesuffix("_ranging") + "_testing" not in watch.tallies:
                continue
            self.advised.add(mark)
            warning = range_advice(watch.tallies[mark], self.device_type, self.channels)
            self.say(f"  range advice: {warning}" if warning else
                     "  range advice: the testing ranges keep every sample within 1 % uncertainty")
