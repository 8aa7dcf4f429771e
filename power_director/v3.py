"""MLCommons power-dev clients (protocol v3, PROTOCOLS.md §2) served by our director.

Existing SUT-side scripts keep working, with our rules: only from
``[service] v3_allowed_addresses``, one session at a time, bounded lines, read
timeouts (``v3_phase_timeout_s`` while a phase is measured, since v3 clients are silent
then), downloads only of files inside the session, ``set_ntp`` answered ``OK`` without
touching the clock, ``cleanup`` answered ``OK`` without deleting data.

A v3 client sends no LoadGen logs, so the session has samples and spl.txt but no
report until its logs are copied into ``ranging/`` and ``run_1/`` and
``power-director report`` is run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

from loadgen_bridge.workload import WorkloadError
from power_director.analyzers import make_analyzer
from power_director.config import ConfigError
from power_director.service import SESSION_ERRORS, DirectorService, check_label
from power_director.session import Session
from power_director.wire import V3_SERVER_HELLO, Channel, WireError, safe_relpath
from reports.session_report import ReportError

PHASES = ("ranging", "testing")
SERVER_UUID = str(uuid.uuid4())


class V3Workload:
    """The phases as the v3 client runs them: from its ``start`` to its ``stop``."""

    def __init__(self, peer: str) -> None:
        self.description = f"MLCommons v3 client {peer}"
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

    def lose(self, reason: str) -> None:
        self.reason = reason
        self.lost.set()


class V3Connection:
    """One v3 client: its command loop and at most one session."""

    def __init__(self, director: DirectorService, channel: Channel) -> None:
        self.director = director
        self.channel = channel
        self.session: Session | None = None
        self.workload = V3Workload(channel.peer)
        self.task: asyncio.Task[str] | None = None
        self.measuring = False

    async def send(self, line: str) -> None:
        await self.channel.write_raw(line.encode() + b"\r\n")

    async def loop(self) -> None:
        while True:
            timeout_s = self.director.service.v3_phase_timeout_s if self.measuring else None
            raw = await self.channel.recv_line(timeout_s)
            command = raw.decode("utf-8", errors="replace").strip()
            await self.send(await self.handle(command))

    async def handle(self, command: str) -> str:
        if command == "time":
            return f"{time.time():.6f}"
        if command in ("set_ntp", "stop"):
            return "OK"
        parts = command.split(",")
        verb = parts[0]
        if verb == "new" and len(parts) == 3:
            return await self.new(parts[1])
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

    async def new(self, label: str) -> str:
        if self.session is not None:
            return "Error: this connection already has a session"
        try:
            check_label(label)
        except ConfigError as exc:
            return f"Error: {exc}"
        holder = self.director.claim(f"v3 client {self.channel.peer}")
        if holder is not None:
            return f"Error: director busy: a session for {holder} is running; try later"
        config = self.director.config
        self.session = Session(
            config,
            make_analyzer(config.analyzer),
            self.workload,
            out_root=self.director.out_root,
            label=label,
            say=self.director.say,
        )
        self.task = asyncio.create_task(self.measure(self.session))
        return f"OK {self.session.name},{SERVER_UUID}"

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
        finally:
            self.director.release()
        return ""

    async def session_command(self, args: list[str]) -> str:
        assert self.task is not None
        if args[0] == "start" and len(args) == 2 and args[1] in PHASES:
            return await self.start(args[1])
        if args[0] == "start" and len(args) == 4 and args[1] == "testing":
            return "Error: manual ranges are not supported; run the ranging phase first"
        if args[0] == "stop" and len(args) == 2 and args[1] in PHASES:
            self.workload.stopped[args[1]].set()
            self.measuring = False
            return "OK"
        if args == ["done"]:
            error = await self.task
            return f"Error: {error}" if error else "OK"
        return f"Error: unknown session command {','.join(args)[:60]!r}"

    async def start(self, phase: str) -> str:
        assert self.task is not None
        started = asyncio.create_task(self.workload.started[phase].wait())
        await asyncio.wait({started, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not self.workload.started[phase].is_set():
            started.cancel()
            return f"Error: {self.task.result() or 'the session ended'}"
        self.measuring = True
        return "OK"

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
        self.workload.lose(reason)
        with contextlib.suppress(Exception):
            await self.task


async def serve_v3(director: DirectorService, channel: Channel) -> None:
    """After the client's ``mlcommons/power client v3`` line."""
    if channel.peer_host not in director.service.v3_allowed_addresses:
        with contextlib.suppress(WireError):
            await channel.write_raw(b"Error: v3 clients are not allowed from this address\r\n")
        director.say(f"{channel.peer}: v3 client refused: not in [service] v3_allowed_addresses")
        return
    await channel.write_raw(V3_SERVER_HELLO.encode() + b"\r\n")
    connection = V3Connection(director, channel)
    reason = "the client closed the connection"
    try:
        await connection.loop()
    except WireError as exc:
        reason = str(exc)
        raise
    finally:
        await connection.close(reason)
