"""Read an MLPerf Training log (``:::MLLOG {json}`` lines, as mlperf_logging's ``mllog`` writes them)
into the Window a Training power session measures: the job's own ``run_start``..``run_stop``.

The line format is mlperf_logging's (``mllog/mllog.py`` ``_encode_log``: ``namespace``, ``time_ms``
(epoch milliseconds), ``event_type``, ``key``, ``value``, ``metadata``), mlperf-logging 4.1.68 on
PyPI; multi-process jobs prefix lines (``0: :::MLLOG …``), so the marker is looked for anywhere in
a line, as mlperf_logging's own parser does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import FormatError
from analyzer_drivers.formats.timefmt import format_mlperf_time
from analyzer_drivers.formats.window import Window

MLLOG_MARK = ":::MLLOG "
TRAINING_SCENARIO = "Training"
MAX_TRAINING_LOG_BYTES = 1024 * 1024 * 1024


class TrainingLogError(FormatError):
    """A training log is missing, unreadable or lacks run_start/run_stop."""


@dataclass(frozen=True, slots=True)
class MllogEvent:
    key: str
    time_ms: int
    value: Any
    metadata: dict[str, Any]


def mllog_events(text: str) -> list[MllogEvent]:
    """Every well-formed ``:::MLLOG`` event of ``text``, in file order (torn lines skipped)."""
    events = []
    for line in text.splitlines():
        at = line.find(MLLOG_MARK)
        if at < 0:
            continue
        try:
            entry = json.loads(line[at + len(MLLOG_MARK):])
        except json.JSONDecodeError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        time_ms = entry.get("time_ms")
        if isinstance(time_ms, bool) or not isinstance(time_ms, (int, float)):
            continue
        metadata = entry.get("metadata")
        events.append(MllogEvent(entry["key"], int(time_ms), entry.get("value"),
                                 metadata if isinstance(metadata, dict) else {}))
    return events


def read_training_log(path: Path) -> list[MllogEvent]:
    if not path.is_file():
        raise TrainingLogError(f"no training log at {path}")
    if path.stat().st_size > MAX_TRAINING_LOG_BYTES:
        raise TrainingLogError(f"{path} is over {MAX_TRAINING_LOG_BYTES >> 20} MiB; not a training log")
    return mllog_events(path.read_text(encoding="utf-8", errors="replace"))


def training_window(events: list[MllogEvent], source: str) -> Window:
    """The first ``run_start`` and the first ``run_stop`` after it (as mlperf_logging's result
    summarizer takes them: ``_query_run_start_stop``)."""
    start = next((e for e in events if e.key == "run_start"), None)
    if start is None:
        raise TrainingLogError(f"{source}: no ':::MLLOG' run_start; is the job logging with mlperf_logging?")
    stop = next((e for e in events if e.key == "run_stop" and e.time_ms >= start.time_ms), None)
    if stop is None:
        raise TrainingLogError(f"{source}: run_start at {start.time_ms} ms but no run_stop after it")
    begin_ns, end_ns = start.time_ms * 1_000_000, stop.time_ms * 1_000_000
    status = stop.metadata.get("status")
    return Window(
        scenario=TRAINING_SCENARIO,
        power_begin=format_mlperf_time(begin_ns), power_end=format_mlperf_time(end_ns),
        begin_ns=begin_ns, end_ns=end_ns, query_count=None, samples_per_query=1,
        result=(stop.time_ms - start.time_ms) / 1000, result_name="time_to_train_s",
        validity="VALID" if status in (None, "success") else str(status).upper(), min_duration_ms=None,
        query_source="run_start/run_stop",
        values={e.key: e.value for e in events if e.key in ("submission_benchmark", "submission_org")},
    )


TRAINING_LOG = "training_log.txt"  # a run's MLLOG lines, kept in its phase directory


def phase_training_window(directory: Path) -> Window | None:
    """The training window of a phase measured in Training mode; None for any other phase."""
    path = directory / TRAINING_LOG
    return training_window(read_training_log(path), str(path)) if path.is_file() else None
