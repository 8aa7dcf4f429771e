"""``command.json``: what ``power-director measure`` recorded of one run of a command, in the
run's phase directory: its lifetime (the measured window), its exit status, its idle windows,
the phase marks and work units it declared, and software estimates taken over the same window.

The session's report reads the window from here when the command wrote no LoadGen log.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.json_record import (
    JsonRecord,
    integer,
    known,
    list_of,
    number,
    optional,
    record,
    text,
)
from analyzer_drivers.formats.json_record import json_field as _field
from analyzer_drivers.formats.timefmt import format_mlperf_time
from analyzer_drivers.formats.window import Window

COMMAND_RECORD = "command.json"
COMMAND_OUTPUT = "output.txt"  # the command's stdout and stderr as it printed them
COMMAND_SCENARIO = "command"  # the scenario a command's window reports (no LoadGen run)

_str, _int, _num = optional(text), optional(integer), optional(number)


def _many(parse: Any) -> Any:
    return dataclasses.field(default=(), metadata=known(list_of(parse)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Span(JsonRecord):
    """A named stretch of time, UTC epoch ns."""

    name: str | None = _field(_str)
    begin_ns: int | None = _field(_int)
    end_ns: int | None = _field(_int)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Mark(JsonRecord):
    """``mark NAME`` from the command: phase NAME begins here (and the previous one ends).
    ``stamped_by``: ``command`` when the line carried its own time, else ``director`` (read time)."""

    name: str | None = _field(_str)
    t_ns: int | None = _field(_int)
    stamped_by: str | None = _field(_str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkCount(JsonRecord):
    """Units of work the command reported: a sum over its output, or its ``work`` lines."""

    units: float | None = _field(_num)
    unit: str | None = _field(_str)
    source: str | None = _field(_str)


_work = optional(record(WorkCount))


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftwareEstimate(JsonRecord):
    """An energy estimate taken in software over the command's window (CodeCarbon)."""

    source: str | None = _field(_str)
    energy_j: float | None = _field(_num)
    error: str | None = _field(_str)  # why there is no figure


@dataclasses.dataclass(frozen=True, kw_only=True)
class CommandRecord(JsonRecord):
    argv: tuple[str, ...] = _many(text)
    begin_ns: int | None = _field(_int)
    end_ns: int | None = _field(_int)
    exit_code: int | None = _field(_int)
    idle: tuple[Span, ...] = _many(record(Span))  # "before" and "after" the command
    marks: tuple[Mark, ...] = _many(record(Mark))
    work: WorkCount | None = _field(_work)
    estimates: tuple[SoftwareEstimate, ...] = _many(record(SoftwareEstimate))
    channel_errors: tuple[str, ...] = _many(text)  # lines on the marks channel we did not understand

    def window(self) -> Window:
        """The command's lifetime as the session's measured window."""
        if self.begin_ns is None or self.end_ns is None:
            raise ReportError(f"{COMMAND_RECORD} has no begin_ns/end_ns")
        return Window(
            scenario=COMMAND_SCENARIO, power_begin=format_mlperf_time(self.begin_ns),
            power_end=format_mlperf_time(self.end_ns), begin_ns=self.begin_ns, end_ns=self.end_ns,
            query_count=None, samples_per_query=1, result=None, result_name="exit status",
            validity=f"exit status {self.exit_code}", min_duration_ms=None,
        )

    def write(self, directory: Path) -> None:
        (directory / COMMAND_RECORD).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def read_command_record(directory: Path) -> CommandRecord | None:
    """The phase directory's ``command.json``, or None when there is none."""
    path = directory / COMMAND_RECORD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} is not readable JSON: {exc}") from exc
    return CommandRecord.from_json(data, str(path))
