"""A meter agent's local journal: every sample with its sequence number, on disk as it is read.

One JSON-lines file per meter (``[seq, t_ns, watts, volts, amps, pf]``); a torn last line after a
crash is skipped. An agent that restarts continues the numbering, so a director sees no reuse. The
journal's epoch (``<meter>.epoch``: when it began, ns) tells a director that numbering started
again (an emptied journal) from a replay of an older run's messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from analyzer_drivers.formats.sample import Sample
from power_director.fleet.wire import decode_samples, encode_samples

RECENT_ROWS = 200_000  # kept in memory for replays; older ones are read from the file
FSYNC_PERIOD_S = 1.0  # the agent syncs its journals this often, off its event loop (sync_journals)


class MeterJournal:
    """Append-only samples of one meter; ``rows(first, last)`` reads them back for a replay."""

    def __init__(self, directory: Path, meter: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{meter}.samples.jsonl"
        self.last_seq = self._last_seq_on_disk()
        self.epoch = self._epoch(directory / f"{meter}.epoch")
        self._recent: deque[tuple[int, Sample]] = deque(maxlen=RECENT_ROWS)
        self._out: TextIO = self.path.open("a", encoding="utf-8")
        self._unsynced = False

    def _epoch(self, path: Path) -> int:
        """The stamp of this journal's beginning; a new one when the journal starts empty."""
        if self.last_seq and path.is_file():
            try:
                return int(path.read_text(encoding="utf-8").strip())
            except ValueError:
                pass  # torn: numbering goes on, and a newer epoch is still newer
        epoch = time.time_ns()
        path.write_text(f"{epoch}\n", encoding="utf-8")
        return epoch

    def _last_seq_on_disk(self) -> int:
        if not self.path.is_file():
            return 0
        with self.path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().splitlines()
        for line in reversed(lines):
            try:
                return int(json.loads(line)[0])
            except (ValueError, IndexError, TypeError):
                continue  # a torn line
        return 0

    def append(self, sample: Sample) -> int:
        self.last_seq += 1
        row = (self.last_seq, sample)
        self._recent.append(row)
        self._out.write(_line(row) + "\n")
        self._out.flush()  # it survives the agent's death; sync() makes it survive the machine's
        self._unsynced = True
        return self.last_seq

    def sync(self) -> None:
        """fsync what was written since the last sync (safe from another thread)."""
        if self._unsynced:
            self._unsynced = False
            with contextlib.suppress(OSError, ValueError):  # closed meanwhile: close() synced it
                os.fsync(self._out.fileno())

    def rows(self, first: int, last: int) -> list[tuple[int, Sample]]:
        """Samples first..last (inclusive) that the journal holds."""
        last = min(last, self.last_seq)
        if first > last:
            return []
        if self._recent and self._recent[0][0] <= first:
            offset = first - self._recent[0][0]
            return [self._recent[offset + k] for k in range(last - first + 1)]
        return self._rows_from_file(first, last)

    def rows_between(self, from_t_ns: int, to_t_ns: int, limit: int) -> list[tuple[int, Sample]]:
        """At most ``limit`` samples stamped from_t_ns..to_t_ns (this machine's clock), oldest first."""
        if self._recent and self._recent[0][1].t_ns <= from_t_ns:
            rows = [r for r in self._recent if from_t_ns <= r[1].t_ns <= to_t_ns]
        else:
            rows = self._rows_from_file(1, self.last_seq, lambda r: from_t_ns <= r[1].t_ns <= to_t_ns)
        return rows[:limit]

    def _rows_from_file(
        self, first: int, last: int, keep: Callable[[tuple[int, Sample]], bool] = lambda _: True
    ) -> list[tuple[int, Sample]]:
        out: list[tuple[int, Sample]] = []
        with self.path.open("rb") as lines:
            for line in lines:
                try:
                    rows = decode_samples(b'{"samples":[' + line.strip() + b"]}")
                except ValueError:
                    continue
                out.extend(r for r in rows if first <= r[0] <= last and keep(r))
        return out

    def close(self) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()


def _line(row: tuple[int, Sample]) -> str:
    body = encode_samples([row]).decode()
    return body[len('{"samples":['):-2]


def sync_journals(journals: Iterable[MeterJournal]) -> None:
    """Every journal's new lines to disk: one thread's work each FSYNC_PERIOD_S (a thousand
    meters' fsyncs would stall an event loop for seconds on a busy disk)."""
    for journal in journals:
        journal.sync()
