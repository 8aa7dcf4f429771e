"""``power-director measure``: any command as a workload. The measured window is the command's
lifetime; its output passes through (and is kept, and scanned for work units); its marks
channel names phases; idle stretches before and after it give the baseline.

A command that runs LoadGen (it writes its logs to ``$POWER_DIRECTOR_LOG_DIR``) keeps LoadGen's
window and MLPerf metric; any other is measured from its start to its exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from analyzer_drivers.formats.command_record import (
    COMMAND_OUTPUT,
    CommandRecord,
    Mark,
    SoftwareEstimate,
    Span,
    WorkCount,
)
from analyzer_drivers.formats.window import Window
from loadgen_bridge.detail_log import DETAIL_LOG
from loadgen_bridge.marks import MARKS_ENV, MarksChannel
from loadgen_bridge.workload import WorkloadError, end_process, start_process

MAX_SCANNED_LINE = 1 << 20
JSON_WORK_KEY = "work_units"  # a JSON object line on the output: {"work_units": 512, "unit": "tokens"}


class CommandListener:
    """Told of each run of the command (on the event loop) and of channel lines it may know
    (on the marks reader's thread). The defaults do nothing."""

    def command_started(self) -> None:
        return None

    def command_ended(self) -> None:
        return None

    def channel_line(self, words: list[str]) -> bool:
        """Whether this listener understood the line (e.g. ``sim-load 0.3``)."""
        return False

    def estimate(self) -> SoftwareEstimate | None:
        """A software estimate of the energy over the last run, where this listener makes one."""
        return None


@dataclass
class WorkCounter:
    """Sums work units from the output (``--work-regex``, JSON lines) and ``work`` lines."""

    regex: re.Pattern[str] | None = None
    unit: str | None = None
    units: float = 0.0
    seen: bool = False
    sources: set[str] = field(default_factory=set)

    def scan(self, line: str) -> None:
        if self.regex is not None:
            for match in self.regex.finditer(line):
                self._add(float(match.group(1)), self._regex_unit(), f"--work-regex {self.regex.pattern}")
        stripped = line.strip()
        if stripped.startswith("{") and JSON_WORK_KEY in stripped:
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError:
                return
            value = data.get(JSON_WORK_KEY) if isinstance(data, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                unit = data.get("unit")
                self._add(float(value), unit if isinstance(unit, str) else None, "JSON line")

    def _regex_unit(self) -> str | None:
        names = list(self.regex.groupindex) if self.regex is not None else []
        return names[0] if names else None

    def channel(self, words: list[str]) -> None:
        self._add(float(words[1]), words[2] if len(words) > 2 else None, "marks channel")

    def _add(self, units: float, unit: str | None, source: str) -> None:
        self.units += units
        self.seen = True
        self.unit = self.unit or unit
        self.sources.add(source)

    def record(self) -> WorkCount | None:
        if not self.seen:
            return None
        sources = ", ".join(sorted(self.sources))
        return WorkCount.new(units=self.units, unit=self.unit or "unit", source=sources)


def compile_work_regex(pattern: str) -> re.Pattern[str]:
    """``--work-regex``: one capture group (named: its name is the unit) holding a number."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise WorkloadError(f"--work-regex {pattern!r} is not a regular expression: {exc}") from None
    if regex.groups < 1:
        raise WorkloadError(f"--work-regex {pattern!r} needs a group around the number, e.g. 'tokens=(\\d+)'")
    return regex


Echo = Callable[[bytes], None]


@dataclass
class MeasuredCommand:
    """One command, run once per testing run; ``command.json`` and ``output.txt`` in each run's
    directory. A non-zero exit does not abort the session: it is recorded (``exit_codes``)."""

    argv: list[str]
    idle_s: float = 0.0
    work_regex: re.Pattern[str] | None = None
    work_unit: str | None = None
    listeners: Sequence[CommandListener] = ()
    echo: Echo | None = None
    lead_s: float = 0.0  # measured before and after the command, at least (two meter intervals)
    exit_codes: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        return " ".join(self.argv)

    async def run(self, phase: str, log_dir: Path) -> Window | None:
        idle = [await self._idle("before")] if self.idle_s > 0 else []
        if self.lead_s > self.idle_s:  # a sample before the window: its start edge has a neighbour
            await asyncio.sleep(self.lead_s - self.idle_s)
        work = WorkCounter(self.work_regex, self.work_unit)
        marks: list[Mark] = []
        channel = MarksChannel(lambda words, read_ns: self._channel_line(words, read_ns, marks, work))
        try:
            begin_ns, end_ns, code = await self._run_command(phase, log_dir, channel, work)
        finally:
            channel.close()
        self.exit_codes.append(code)
        if self.idle_s > 0:
            idle.append(await self._idle("after"))
        if self.lead_s > self.idle_s:  # and samples after it, for its end edge
            await asyncio.sleep(self.lead_s - self.idle_s)
        estimates = [e for e in (listener.estimate() for listener in self.listeners) if e is not None]
        record = CommandRecord.new(
            argv=tuple(self.argv), begin_ns=begin_ns, end_ns=end_ns, exit_code=code, idle=tuple(idle),
            marks=tuple(marks), work=work.record(), estimates=tuple(estimates),
            channel_errors=tuple(channel.errors),
        )
        record.write(log_dir)
        return None if (log_dir / DETAIL_LOG).is_file() else record.window()

    async def _idle(self, name: str) -> Span:
        begin_ns = time.time_ns()
        await asyncio.sleep(self.idle_s)
        return Span.new(name=name, begin_ns=begin_ns, end_ns=time.time_ns())

    def _channel_line(self, words: list[str], read_ns: int, marks: list[Mark], work: WorkCounter) -> bool:
        verb = words[0]
        if verb == "mark" and len(words) in (2, 3):
            stamped = len(words) == 3
            t_ns = int(words[2]) if stamped else read_ns
            marks.append(Mark.new(name=words[1], t_ns=t_ns, stamped_by="command" if stamped else "director"))
            return True
        if verb == "work" and len(words) in (2, 3):
            work.channel(words)
            return True
        return any(listener.channel_line(words) for listener in self.listeners)

    async def _run_command(
        self, phase: str, log_dir: Path, channel: MarksChannel, work: WorkCounter
    ) -> tuple[int, int, int]:
        env = {**os.environ, "POWER_DIRECTOR_LOG_DIR": str(log_dir), "POWER_DIRECTOR_PHASE": phase,
               MARKS_ENV: str(channel.path)}
        for listener in self.listeners:
            listener.command_started()
        begin_ns = time.time_ns()
        try:
            process = await start_process(
                self.argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            for listener in self.listeners:
                listener.command_ended()
            raise WorkloadError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from exc
        with (log_dir / COMMAND_OUTPUT).open("wb") as output:
            pumps = [asyncio.ensure_future(self._pump(stream, output, work))
                     for stream in (process.stdout, process.stderr) if stream is not None]
            try:
                code = await process.wait()
                end_ns = time.time_ns()
            except asyncio.CancelledError:
                await end_process(process)
                raise
            finally:
                for listener in self.listeners:
                    listener.command_ended()
            await asyncio.gather(*pumps)
        return begin_ns, end_ns, code

    async def _pump(self, stream: asyncio.StreamReader, output: IO[bytes], work: WorkCounter) -> None:
        """Pass the command's output through as it comes, keep it, scan its lines for work."""
        pending = b""
        while chunk := await stream.read(65536):
            if self.echo is not None:
                self.echo(chunk)
            output.write(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                work.scan(line.decode("utf-8", "replace"))
            if len(pending) > MAX_SCANNED_LINE:
                pending = b""
        if pending:
            work.scan(pending.decode("utf-8", "replace"))
