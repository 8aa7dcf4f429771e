"""The session's ``raw/``: every sample and event on disk as it arrives.

Samples are PTDaemon ``-l`` log lines with their mark, one file per analyzer, so a torn
last line after a crash loses one sample at most and the file reads like PTDaemon's own.
Events are JSON lines.

Every line is flushed as it is written (it survives the director's death) and synced to disk each
second (it survives the machine's), except the samples of meters whose source journals them too
(a meter agent: ``Analyzer.journaled_at_source``): those are written out every few seconds and
synced when the journal closes. With a thousand such meters, a write and an fsync per meter and
second would cost more than everything else the director does, and after a crash the agents'
journals are the copy the session is recovered from (power_director/session/fleet_recovery.py).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from analyzer_drivers.formats.ptd_line import format_sample_line, format_sample_lines
from analyzer_drivers.formats.sample import Channel, Sample
from analyzer_drivers.formats.session_layout import ALIVE_FILE, EVENTS_FILE, samples_path
from analyzer_drivers.formats.session_meta import AnalyzerRecord, PhaseRecord, SessionMeta
from reports.merge import mean_power_over, merge_by_time
from reports.metrics import sample_intervals
from reports.mlperf.layout import read_events
from reports.spl import PowerSeries

FSYNC_PERIOD_S = 1.0  # flushed on every write (survives a crash); synced to disk at most this often
AT_SOURCE_FLUSH_S = 5.0  # samples journaled at their source too: written out at most this often
#: A meter whose samples its source journals is polled this often (its samples are safe there and
#: are written out here every AT_SOURCE_FLUSH_S anyway): fewer, larger batches cost a director
#: reading a thousand such meters less per sample.
AT_SOURCE_POLL_S = AT_SOURCE_FLUSH_S


ALIVE_PERIOD_S = 0.25


class Journal:
    """Append-only writer for one session's ``raw/`` directory."""

    def __init__(self, raw_dir: Path, journaled_at_source: Iterable[str] = ()) -> None:
        """``journaled_at_source``: the analyzers whose samples their source journals too."""
        raw_dir.mkdir(parents=True, exist_ok=True)
        self._at_source = set(journaled_at_source)
        self.raw_dir = raw_dir
        self._events = (raw_dir / EVENTS_FILE).open("a", encoding="utf-8")
        self._samples: dict[str, TextIO] = {}
        self.sample_counts: dict[str, int] = {}
        self._synced_at = self._flushed_at = time.monotonic()
        self._alive_at = -math.inf

    def record_samples(self, analyzer_name: str, samples: Sequence[Sample], mark: str) -> int:
        out = self._samples.get(analyzer_name)
        if out is None:
            out = samples_path(self.raw_dir, analyzer_name).open("a", encoding="utf-8")
            self._samples[analyzer_name] = out
        lines = format_sample_lines(samples, mark)
        if lines:
            out.write("\n".join(lines) + "\n")  # one write per batch: a fast meter sends thousands
            if analyzer_name not in self._at_source:
                out.flush()
        self._sync_if_due()
        self.sample_counts[analyzer_name] = self.sample_counts.get(analyzer_name, 0) + len(lines)
        return len(lines)

    def record_event(self, kind: str, **fields: Any) -> None:
        entry = {"t_ns": time.time_ns(), "kind": kind, **fields}
        self._events.write(json.dumps(entry, default=str) + "\n")
        self._events.flush()
        self._sync_if_due()

    def record_exchange(self, command: str, reply: str, sent_ns: int, replied_ns: int) -> None:
        """A command to the primary meter and its reply's first line (an RL reply carries every
        sample line; those are in the sample journal already)."""
        head = reply.split("\n", 1)[0]
        self.record_event("exchange", cmd=command, reply=head, cmd_t_ns=sent_ns, reply_t_ns=replied_ns)

    def alive(self) -> None:
        """Stamp ``raw/alive`` (ns) at most every ALIVE_PERIOD_S: after a crash, when the director
        was last seen, so a recovery knows until when the phase ran."""
        now_s = time.monotonic()
        if now_s - self._alive_at >= ALIVE_PERIOD_S:
            self._alive_at = now_s
            stamp = self.raw_dir / f"{ALIVE_FILE}.new"
            stamp.write_text(f"{time.time_ns()}\n", encoding="utf-8")
            os.replace(stamp, self.raw_dir / ALIVE_FILE)  # whole, even if the director dies mid-write

    def _sync_if_due(self) -> None:
        """A flushed line survives the director's death; fsync makes it survive the machine's."""
        now_s = time.monotonic()
        if now_s - self._flushed_at >= AT_SOURCE_FLUSH_S:
            self._flushed_at = now_s
            for name in self._at_source.intersection(self._samples):
                self._samples[name].flush()
        if now_s - self._synced_at < FSYNC_PERIOD_S:
            return
        self._synced_at = now_s
        for out in [self._events, *(f for name, f in self._samples.items() if name not in self._at_source)]:
            os.fsync(out.fileno())

    def close(self) -> None:
        for out in [self._events, *self._samples.values()]:
            out.flush()
            os.fsync(out.fileno())
            out.close()
        self._samples.clear()


def _has_mark(line: str, mark: str) -> bool:
    suffix = f",Mark,{mark}"
    # A multichannel line's mark sits before its channels: only a whole line (a crash can
    # tear the last) tells all of them.
    return line.rstrip("\n").endswith(suffix) or (f"{suffix},Ch1," in line and line.endswith("\n"))


def write_phase_spls(lines: Iterable[str], spl_paths: Sequence[tuple[str, Path]]) -> list[int]:
    """Write each ``(mark, spl.txt)``: the raw sample lines of that mark, in one pass over the
    journal's lines. Returns each file's line count."""
    counts = [0] * len(spl_paths)
    with ExitStack() as stack:
        outs = [(mark, stack.enter_context(path.open("w", encoding="utf-8"))) for mark, path in spl_paths]
        for line in lines:
            for k, (mark, spl) in enumerate(outs):
                if _has_mark(line, mark):
                    spl.write(line if line.endswith("\n") else line + "\n")
                    counts[k] += 1
    return counts


def write_merged_spl(meters: list[tuple[PowerSeries, int]], mark: str, spl_path: Path) -> int:
    """Write ``spl.txt`` for several supplies, each ``(its samples, its sampling interval ns)``:
    on the first meter's sample times, the time-merged sum, and each meter's average power over
    that interval as a channel."""
    series = [samples.with_mark(mark).sorted_by_time() for samples, _ in meters]
    intervals_ns = [interval_ns for _, interval_ns in meters]
    first = series[0]
    starts, ends = sample_intervals(first.t_ns, intervals_ns[0])
    others = [mean_power_over(s.t_ns, s.watts, own_ns, starts, ends)
              for s, own_ns in zip(series[1:], intervals_ns[1:], strict=True)]
    total = merge_by_time((first.t_ns, first.watts), [(s.t_ns, s.watts) for s in series[1:]],
                          intervals_ns[0], intervals_ns[1:])
    with spl_path.open("w", encoding="utf-8") as spl:
        for k, t_ns in enumerate(first.t_ns):
            channels = (Channel(first.watts[k], first.volts[k], first.amps[k], first.pf[k]),
                        *(Channel(w[k], -1.0, -1.0, -1.0) for w in others))
            spl.write(format_sample_line(Sample(int(t_ns), float(total[k]), channels=channels), mark) + "\n")
    return len(first.t_ns)


def recover_meta(raw_dir: Path, meta: SessionMeta) -> SessionMeta:
    """Fill what a killed director never wrote to ``session.json`` from the journal's events:
    the analyzers it identified and the marks of the phases it started."""
    analyzers = list(meta.analyzers)
    phases = dict(meta.phases)
    events = raw_dir / EVENTS_FILE
    for event in read_events(raw_dir.parent):
        described = event.get("analyzer")
        known = [a.driver for a in analyzers]
        if event.get("kind") == "identified" and isinstance(described, dict) and (
            described.get("driver") not in known
        ):
            analyzers.append(AnalyzerRecord.from_json(described, f"{events}: identified"))
        phase, mark = event.get("phase"), event.get("mark")
        if event.get("kind") == "phase_start" and isinstance(phase, str) and isinstance(mark, str) \
                and phase not in phases:
            phases[phase] = PhaseRecord.new(mark=mark, stamps=())
    recovered = meta.updated(analyzers=tuple(analyzers), phases=phases)
    primary = next((a for a in analyzers if a.role == "primary"), None)
    if primary is not None and not meta.has("analyzer"):
        recovered = recovered.updated(analyzer=primary)
    return recovered
