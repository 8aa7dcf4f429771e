"""MLCommons power-dev clients (protocol v3, docs/protocols.md#power-dev-v3) served by our director.

Existing SUT-side scripts keep working, with our rules: only from
``[service] v3_allowed_addresses``, one session at a time, bounded lines, a timeout on
every wait (``v3_phase_timeout_s`` while a phase is measured, since v3 clients are silent
then), downloads only of files inside the session, ``set_ntp`` answered ``OK`` without
touching the clock, ``cleanup`` answered ``OK`` without deleting data.

What the client gets back passes MLCommons' checker as power-dev's own server's output
does (power-dev ``ptd_client_server/lib/server.py`` and ``lib/summary.py`` at
c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2): ``server.json`` records the real exchange
(every command and reply from the hello up to, not including, ``done``), the client's
uuid and a fresh server uuid, and phase times stamped as power-dev stamps them (a start
or stop command received, then its reply sent). As power-dev's server, the analyzer's ranges
are set and ``Go`` sent only at ``start,<phase>``, not at ``new``. A command out of order is
refused at once; a disconnect (or ``done`` before both phases) at any point ends the session
at once, whatever it was waiting on (a settle, a reconnect backoff, the client's next
command): analyzer stopped, ranges restored, data kept.

A v3 client sends no LoadGen logs, so the session has samples and spl.txt but no
report until its logs are copied into ``ranging/`` and ``run_1/`` and
``power-director report`` is run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_meta import Uuids
from loadgen_bridge.remote.wire import V3_CLIENT_HELLO, V3_SERVER_HELLO, Connection, WireError, safe_relpath
from loadgen_bridge.workload import WorkloadError
from power_director.config.loader import ConfigError
from power_director.remote.host import SESSION_ERRORS, SessionHost, check_label
from power_director.session.session import Session
from reports.mlperf.layout import write_power_dir

PHASES = ("ranging", "testing")
#: The longest a start waits for the analyzer to measure, and ``done`` for the session to
#: write its files (a PTDaemon may take ~17 s to accept a connection).
START_TIMEOUT_S = 120.0
FINISH_TIMEOUT_S = 60.0
#: The state after each accepted session command, as power-dev's SessionState.
NEXT_STATE = {
    ("initial", "start,ranging"): "ranging",
    ("ranging", "stop,ranging"): "ranging_done",
    ("ranging_done", "start,testing"): "testing",
    ("testing", "stop,testing"): "testing_done",
}


class V3Workload:
    """The phases as the v3 client runs them: from its ``start`` to its ``stop``."""

    def __init__(self, peer: str) -> None:
        self.description = f"MLCommons v3 client {peer}"
        self.requested = {phase: asyncio.Event() for phase in PHASES}
        self.started = {phase: asyncio.Event() for phase in PHASES}
        self.stopped = {phase: asyncio.Event() for phase in PHASES}
        self.lost = asyncio.Event()
        self.reason = ""

    async def run(self, phase: str, log_dir: Path) -> None:
        self.started[phase].set()
        stop = asyncio.create_task(self.stopped[phase].wait())
        lost = asyncio.create_task(self.lost.wait())
        await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        lost.cancel()
        if not self.stopped[phase].is_set():
            raise WorkloadError(f"v3 client: {self.reason} (during the {phase} phase)")

    async def start_requested(self, phase: str) -> None:
        """Until the client's ``start,<phase>``: the analyzer is not touched before it."""
        await _first([self.requested[phase].wait(), self.lost.wait()], START_TIMEOUT_S * 10)
        if not self.requested[phase].is_set():
            raise WorkloadError(f"v3 client: {self.reason or 'no start'} (before the {phase} phase)")

    def lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()


class V3Record:
    """What power-dev's Summary records on the server side of one connection."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = [
            {"cmd": V3_CLIENT_HELLO, "cmd_time": time.time(), "reply": V3_SERVER_HELLO,
             "reply_time": time.time()}
        ]
        self.phases: dict[str, list[list[float]]] = {phase: [] for phase in PHASES}

    def message(self, cmd: str, cmd_time: float, reply: str) -> None:
        self.messages.append({"cmd": cmd, "cmd_time": cmd_time, "reply": reply, "reply_time": time.time()})

    def stamp(self, phase: str) -> None:
        self.phases[phase].append([time.time(), time.monotonic()])


async def _first(waits: list[Awaitable[Any]], timeout_s: float) -> None:
    """Wait for the first of these to finish (at most ``timeout_s``); cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    _, pending = await asyncio.wait(tasks, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        if task not in waits:  # never cancel a task the caller owns
            task.cancel()


class V3Connection:
    """One v3 client: a reader that notices a disconnect at any time, the command loop,
    and at most one session."""

    def __init__(self, director: SessionHost, channel: Connection) -> None:
        self.director = director
        self.channel = channel
        self.session: Session | None = None
        self.workload = V3Workload(channel.peer)
        self.task: asyncio.Task[str] | None = None
        self.state = "none"
        self.record = V3Record()
        self.client_uuid = ""
        self.server_uuid = ""
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.gone_reason = "the client closed the connection"
        self.cancelled = False

    async def send(self, line: str) -> None:
        await self.channel.write_raw(line.encode() + b"\r\n")

    @property
    def measuring(self) -> bool:
        return self.state in PHASES

    async def read_lines(self) -> None:
        """Every line the client sends; a close or a broken line ends the connection at once,
        even while a command is being handled."""
        try:
            while True:
                raw = await self.channel.recv_line(self.director.service.v3_phase_timeout_s)
                await self.lines.put(raw.decode("utf-8", errors="replace").strip())
        except WireError as exc:
            self.gone_reason = str(exc)
        finally:
            self.gone.set()
            self.abort(self.gone_reason)
            await self.lines.put(None)

    def abort(self, reason: str) -> None:
        """End the session at once, whatever it waits on (a settle, a reconnect backoff, the
        client's next command): cancelling it stops the analyzer and restores its ranges.
        After ``stop,testing`` both phases are measured: the session finishes its files."""
        self.workload.lose(reason)
        if self.cancelled or self.task is None or self.task.done() or self.state == "testing_done":
            return
        self.cancelled = True  # once: a second cancel would cut the first one's cleanup short
        if self.session is not None:
            self.session.cancel_reason = f"v3 client: {reason} (the session at {self.state!r})"
        self.task.cancel(reason)

    async def loop(self) -> None:
        while True:
            timeout_s = (self.director.service.v3_phase_timeout_s if self.measuring
                         else self.director.service.read_timeout_s)
            try:
                command = await asyncio.wait_for(self.lines.get(), timeout_s)
            except asyncio.TimeoutError:
                self.gone_reason = f"{self.channel.peer} sent no command within {timeout_s:g} s"
                return
            if command is None:
                return
            received = time.time()
            reply = await self.handle(command)
            if reply is None:
                continue
            # power-dev records neither downloads nor done (server.json is saved at done).
            if not command.endswith(",done") and not command.startswith("download,"):
                self.record.message(command, received, reply)
            await self.send(reply)

    async def handle(self, command: str) -> str | None:
        if command == "time":
            return str(time.time())
        if command in ("set_ntp", "stop"):
            return "OK"
        parts = command.split(",")
        verb = parts[0]
        if verb == "new" and len(parts) == 3:
            return await self.new(parts[1], parts[2])
        if verb == "session" and len(parts) >= 3 and self.owns(parts[1]):
            return await self.session_command(parts[2:])
        if verb == "download" and len(parts) == 3 and self.owns(parts[1]):
            await self.download(parts[2])
            return "0"
        if verb == "cleanup" and len(parts) == 2 and self.owns(parts[1]):
            return "OK"
        return f"Error: unknown or malformed command {command[:60]!r}"

    def owns(self, session_id: str) -> bool:
        return self.session is not None and session_id == self.session.name

    async def new(self, label: str, client_uuid: str) -> str:
        if self.session is not None:
            return "Error: this connection already has a session"
        try:
            self.client_uuid = str(uuid.UUID(client_uuid))
            # power-dev's default label is empty: the session is then named by the config's.
            label = check_label(label or self.director.config.session.label)
        except (ConfigError, ValueError) as exc:
            return f"Error: {exc}"
        holder = self.director.claim(f"v3 client {self.channel.peer}")
        if holder is not None:
            return f"Error: director busy: a session for {holder} is running; try later"
        self.session = self.director.new_session(self.workload, label, self.channel.peer_host)
        self.server_uuid = str(uuid.uuid4())
        self.state = "initial"
        self.task = asyncio.create_task(self.measure(self.session))
        # Freed however the task ends, even cancelled before it began.
        self.task.add_done_callback(lambda _: self.director.release())
        return f"OK {self.session.name},{self.server_uuid}"

    async def measure(self, session: Session) -> str:
        """The session's error in one line, empty when it measured both phases."""
        try:
            await session.run()
        except ReportError:
            say = self.director.say
            say(f"{session.name}: measured; no report until its LoadGen logs are added")
            return ""
        except SESSION_ERRORS as exc:
            self.director.say(f"{session.name}: aborted: {exc}")
            return str(exc)
        except asyncio.CancelledError:  # abort(): only this connection cancels its session
            self.director.say(f"{session.name}: aborted: {self.workload.reason}")
            return self.workload.reason
        return ""

    def outcome(self) -> str:
        """The finished task's error line (empty: both phases measured)."""
        assert self.task is not None and self.task.done()
        return self.workload.reason if self.task.cancelled() else self.task.result()

    async def session_command(self, args: list[str]) -> str:
        step = ",".join(args)
        if args == ["done"]:
            return await self.done()
        if len(args) == 2 and args[0] in ("start", "stop") and args[1] in PHASES:
            if NEXT_STATE.get((self.state, step)) is None:
                if (args[0] == "start" and self.state == args[1]) or (
                        args[0] == "stop" and self.state == f"{args[1]}_done"):
                    return "OK"  # a repeat, as power-dev answers it
                return f"Error: {step} is out of order (the session is at {self.state!r})"
            return await (self.start(args[1]) if args[0] == "start" else self.stop(args[1]))
        if args[:2] == ["start", "testing"] and len(args) == 4:
            return "Error: manual ranges are not supported; run the ranging phase first"
        return f"Error: unknown session command {step[:60]!r}"

    async def start(self, phase: str) -> str:
        assert self.task is not None
        self.record.stamp(phase)
        self.workload.requested[phase].set()
        started = self.workload.started[phase]
        await _first([started.wait(), self.task, self.gone.wait()], START_TIMEOUT_S)
        if not started.is_set():
            if not self.task.done():
                self.abort(f"the analyzer was not measuring within {START_TIMEOUT_S:g} s")
                await _first([self.task], FINISH_TIMEOUT_S)
            reason = self.outcome() if self.task.done() else self.workload.reason
            return f"Error: {reason or 'the session ended'}"
        self.state = phase
        self.record.stamp(phase)
        return "OK"

    async def stop(self, phase: str) -> str:
        self.record.stamp(phase)
        self.workload.stopped[phase].set()
        self.state = f"{phase}_done"
        self.record.stamp(phase)
        return "OK"

    async def done(self) -> str:
        """End the session: after both phases, wait for its files and write server.json as the
        client will download it; before, abort it (data kept)."""
        assert self.task is not None and self.session is not None
        if self.state != "testing_done":
            self.abort(f"the client sent done at {self.state!r}")
        await _first([self.task], FINISH_TIMEOUT_S)
        if not self.task.done():
            self.workload.lose(f"the session did not finish within {FINISH_TIMEOUT_S:g} s")
            return f"Error: the session did not finish within {FINISH_TIMEOUT_S:g} s"
        self.state = "done"
        error = self.outcome()
        self.write_descriptors(self.session)
        return f"Error: {error}" if error else "OK"

    def write_descriptors(self, session: Session) -> None:
        session.meta = session.meta.updated(
            uuid=Uuids.new(client=self.client_uuid, server=self.server_uuid),
            messages=tuple(self.record.messages), v3_phases=self.record.phases)
        session.save_meta()
        write_power_dir(session.dir, session.meta)

    async def download(self, relpath: str) -> None:
        """The file as chunks (length line, bytes); the caller then sends ``0``."""
        assert self.session is not None
        try:
            path = self.session.dir.joinpath(*safe_relpath(relpath).parts)
        except WireError as exc:
            self.director.say(f"{self.channel.peer}: v3 download refused: {exc}")
            return
        if not path.is_file():
            return
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(64 * 1024), b""):
                await self.send(str(len(chunk)))
                await self.channel.write_raw(chunk)

    async def close(self, reason: str) -> None:
        if self.task is None:
            return
        self.abort(reason)
        try:
            await self.task
        except asyncio.CancelledError:
            if not self.task.cancelled():  # this close was cancelled, not the session
                raise
        except Exception:  # measure() said why already
            pass


async def serve_v3(director: SessionHost, channel: Connection) -> None:
    """After the client's ``mlcommons/power client v3`` line."""
    if channel.peer_host not in director.service.v3_allowed_addresses:
        with contextlib.suppress(WireError):
            await channel.write_raw(b"Error: v3 clients are not allowed from this address\r\n")
        director.say(f"{channel.peer}: v3 client refused: not in [service] v3_allowed_addresses")
        return
    await channel.write_raw(V3_SERVER_HELLO.encode() + b"\r\n")
    connection = V3Connection(director, channel)
    reader = asyncio.create_task(connection.read_lines())
    try:
        await connection.loop()
    finally:
        await connection.close(connection.gone_reason)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
