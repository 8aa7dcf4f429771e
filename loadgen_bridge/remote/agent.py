"""The SUT side of a remote session: runs LoadGen phases when the director says so.

In Python, for benchmarks that drive LoadGen themselves::

    async with RemoteSession("director.lab", 4950, token=token, label="resnet") as s:
        for phase in ("ranging", "testing"):
            async with s.phase(phase) as log_dir:
                run_loadgen(log_dir)          # LoadGen writes its logs into log_dir
    print(s.result.summary)                   # the session directory is downloaded

From the shell: ``power-director agent --director HOST:PORT -- CMD ...``. The agent
never talks to an analyzer; it answers the director's clock exchanges, ships the
LoadGen logs (sha256-checked, size-capped) and keeps its own copy of them.

Test-only: ``POWER_DIRECTOR_AGENT_CLOCK_OFFSET_S`` shifts this agent's clock by that
many seconds — every timestamp it reports, and the ``power_begin``/``power_end`` in the
detail log it ships (its own copy on disk is left as LoadGen wrote it) — to play a SUT
whose clock is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from analyzer_drivers.formats.errors import PowerDirectorError
from analyzer_drivers.formats.timefmt import NS_PER_S, format_mlperf_time, parse_mlperf_time
from loadgen_bridge.detail_log import DETAIL_LOG, MLLOG_PREFIX
from loadgen_bridge.remote.wire import (
    Connection,
    Message,
    WireError,
    client_handshake,
    enable_tcp_keepalive,
    field_of,
    read_token,
    safe_relpath,
)
from loadgen_bridge.workload import LOADGEN_LOG_NAMES, CommandWorkload

PHASES = ("ranging", "testing")
CLOCK_OFFSET_ENV = "POWER_DIRECTOR_AGENT_CLOCK_OFFSET_S"
AGENT_MAX_MESSAGE_BYTES = 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
WINDOW_KEYS = ("power_begin", "power_end")


class AgentError(PowerDirectorError):
    """The remote session failed on the SUT side; the message says why."""


@dataclass(frozen=True)
class AgentResult:
    """A remote session as the SUT agent sees it at the end (``reports.model.results.SessionResult``
    is the director's record of a session)."""

    name: str
    status: str  # completed | aborted
    error: str | None
    valid: bool
    summary: str
    session_dir: Path


def parse_director(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AgentError(f"--director {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def clock_offset_ns_from_env() -> int:
    text = os.environ.get(CLOCK_OFFSET_ENV, "").strip()
    if not text:
        return 0
    try:
        return round(float(text) * NS_PER_S)
    except ValueError:
        raise AgentError(f"{CLOCK_OFFSET_ENV}={text!r} is not a number of seconds") from None


def shift_power_window(data: bytes, offset_ns: int) -> bytes:
    """A detail log with ``power_begin``/``power_end`` moved by ``offset_ns``; all else as is."""
    lines = data.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    for index, line in enumerate(lines):
        if not line.startswith(MLLOG_PREFIX) or not any(k in line for k in WINDOW_KEYS):
            continue
        with contextlib.suppress(ValueError, TypeError):
            entry = json.loads(line[len(MLLOG_PREFIX) :])
            if isinstance(entry, dict) and entry.get("key") in WINDOW_KEYS:
                entry["value"] = format_mlperf_time(
                    parse_mlperf_time(str(entry["value"])) + offset_ns
                )
                lines[index] = MLLOG_PREFIX + json.dumps(entry) + "\n"
    return "".join(lines).encode("utf-8", errors="surrogateescape")


def client_tls_context(ca_file: Path | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise AgentError(f"cannot load the TLS CA file {ca_file}: {exc}") from exc


async def answer_time_request(
    channel: Connection, request: Message, now_ns: Callable[[], int]
) -> None:
    """The SUT's half of a clock exchange: receive and reply stamps on this clock."""
    t2_ns = now_ns()
    await channel.send(
        {"type": "time_reply", "id": request.get("id"), "t2_ns": t2_ns, "t3_ns": now_ns()}
    )


class RemoteSession:
    """One session on a remote director; ``async with`` connects, authenticates and opens it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        token: bytes | None,
        label: str = "run",
        workload: str = "in-process LoadGen",
        out_root: Path = Path("power-runs"),
        tls: ssl.SSLContext | None = None,
        clock_offset_ns: int | None = None,
        say: Callable[[str], None] = print,
        host_name: str | None = None,
    ) -> None:
        self.address = f"{host}:{port}"
        # The system under test's name, as the director records it (unless its config names one).
        self.host_name = socket.gethostname() if host_name is None else host_name
        self.host, self.port = host, port
        self.token, self.label, self.workload = token, label, workload
        self.out_root, self.tls, self.say = out_root, tls, say
        self.clock_offset_ns = (
            clock_offset_ns_from_env() if clock_offset_ns is None else clock_offset_ns
        )
        self.name = ""
        self.logs_dir = out_root
        self.result: AgentResult | None = None
        self.max_file_bytes = 0
        self._channel: Connection | None = None
        self._stack = contextlib.AsyncExitStack()
        self._failed_phase = False

    def now_ns(self) -> int:
        return time.time_ns() + self.clock_offset_ns

    @property
    def channel(self) -> Connection:
        if self._channel is None:
            raise AgentError("the remote session is not open; use 'async with RemoteSession(...)'")
        return self._channel

    # --- lifetime ----------------------------------------------------------------------
    async def __aenter__(self) -> RemoteSession:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host, self.port, ssl=self.tls, limit=AGENT_MAX_MESSAGE_BYTES
                ),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
            raise AgentError(f"cannot reach the director at {self.address}: {reason}") from exc
        enable_tcp_keepalive(writer)
        self._channel = Connection(
            reader,
            writer,
            max_message_bytes=AGENT_MAX_MESSAGE_BYTES,
            read_timeout_s=CONNECT_TIMEOUT_S,
        )
        try:
            with self._wire_errors():
                await self._open()
        except BaseException:
            await self.channel.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self.result is None:
                await self.finish()
            elif exc is not None and self._failed_phase and self.result is None:
                with contextlib.suppress(
                    AgentError
                ):  # the director's files, if it can still send them
                    await self.finish()
        finally:
            await self._stack.aclose()
            await self.channel.close()

    async def _open(self) -> None:
        welcome = await client_handshake(self.channel, self.token)
        self.channel.read_timeout_s = float(field_of(welcome, "read_timeout_s", (int, float)))
        self.max_file_bytes = int(field_of(welcome, "max_file_bytes", int))
        keepalive_s = float(field_of(welcome, "keepalive_s", (int, float)))
        await self.channel.send({"type": "open", "label": self.label, "workload": self.workload,
                                 "host": self.host_name})
        opened = await self._serve_until("opened")
        self.name = str(safe_relpath(field_of(opened, "session", str)))
        self.logs_dir = self.out_root / f"{self.name}-sut-logs"
        await self._stack.enter_async_context(self.channel.keepalive(keepalive_s))
        self.say(f"agent: session {self.name} opened on {self.address}")

    @contextlib.contextmanager
    def _wire_errors(self) -> Iterator[None]:
        try:
            yield
        except WireError as exc:
            kept = f"; LoadGen logs kept in {self.logs_dir}" if self.name else ""
            raise AgentError(f"director {self.address}: {exc}{kept}") from exc

    # --- phases ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def phase(self, phase: str) -> AsyncIterator[Path]:
        """Wait until the director measures ``phase``; the body runs LoadGen into the given dir."""
        if phase not in PHASES:
            raise AgentError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
        with self._wire_errors():
            asked = field_of(await self._serve_until("run_phase"), "phase", str)
        if asked != phase:
            raise AgentError(f"the director asked for the {asked} phase, not {phase}")
        log_dir = self.logs_dir / phase
        log_dir.mkdir(parents=True, exist_ok=True)
        self.say(f"agent: {phase} phase: the director is measuring; LoadGen logs go to {log_dir}")
        try:
            yield log_dir
        except BaseException as exc:
            await self._fail_phase(phase, str(exc) or type(exc).__name__)
            raise
        with self._wire_errors():
            await self._upload(phase, log_dir)

    async def _fail_phase(self, phase: str, reason: str) -> None:
        with contextlib.suppress(WireError, AgentError):
            await self.channel.send(
                {"type": "phase_failed", "phase": phase, "reason": reason[:500]}
            )
            self._failed_phase = True

    async def _upload(self, phase: str, log_dir: Path) -> None:
        if not (log_dir / DETAIL_LOG).is_file():
            await self._fail_phase(phase, f"LoadGen wrote no {DETAIL_LOG}")
            raise AgentError(f"LoadGen wrote no {DETAIL_LOG} in {log_dir} ({phase} phase)")
        for name in LOADGEN_LOG_NAMES:
            path = log_dir / name
            if not path.is_file():
                continue
            if path.stat().st_size > self.max_file_bytes:
                await self._fail_phase(phase, f"{name} is over the director's size limit")
                raise AgentError(
                    f"{path} is over the director's limit of {self.max_file_bytes} bytes"
                )
            await self.channel.send_file(name, path, self._rewrite_for(name))
            await self._serve_until("file_ok")
        await self.channel.send({"type": "phase_done", "phase": phase})

    def _rewrite_for(self, name: str) -> Callable[[bytes], bytes] | None:
        """Only with the test-only clock offset: ship the window as a shifted SUT clock would."""
        shift_ns = self.clock_offset_ns
        if name != DETAIL_LOG or not shift_ns:
            return None
        return lambda data: shift_power_window(data, shift_ns)

    # --- the end -------------------------------------------------------------------------
    async def finish(self) -> AgentResult:
        """Wait for the director to finish the session; download its directory."""
        with self._wire_errors():
            done = await self._serve_until("session_done")
            return await self._collect(done)

    async def _collect(self, done: Message) -> AgentResult:
        session_dir = self.out_root / self.name
        await self._download(session_dir)
        with contextlib.suppress(WireError):
            await self.channel.send({"type": "bye"})
        error = done.get("error")
        self.result = AgentResult(
            name=self.name,
            status=str(done.get("status")),
            error=str(error) if error else None,
            valid=done.get("valid") is True,
            summary=str(done.get("summary", "")),
            session_dir=session_dir,
        )
        return self.result

    async def _download(self, session_dir: Path) -> None:
        session_dir.mkdir(parents=True, exist_ok=True)
        while True:
            message = await self.channel.recv()
            if message["type"] == "files_end":
                return
            if message["type"] != "file":
                raise WireError(f"expected a session file, got {message['type']!r}")
            dest = session_dir.joinpath(*safe_relpath(message.get("name")).parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            await self.channel.recv_file(message, dest, self.max_file_bytes)

    async def _serve_until(self, *types: str) -> Message:
        """Answer clock exchanges until one of ``types`` arrives."""
        while True:
            message = await self.channel.recv()
            kind = message["type"]
            if kind in types:
                return message
            if kind == "time_req":
                await answer_time_request(self.channel, message, self.now_ns)
            elif kind == "error":
                raise AgentError(f"director {self.address} says: {message.get('message', 'error')}")
            elif kind == "session_done":
                result = await self._collect(message)
                raise AgentError(
                    f"the director ended the session: {result.error or result.status}; "
                    f"its files are in {result.session_dir}"
                )
            else:
                raise WireError(f"unexpected {kind!r} message (waiting for {' or '.join(types)})")


async def run_agent(
    director: str,
    argv: list[str],
    *,
    token_file: Path | None,
    label: str,
    loadgen_logs: Path | None,
    out_root: Path,
    tls_ca: Path | None,
) -> AgentResult:
    """``power-director agent``: run ``argv`` as the workload of each phase of a remote session."""
    host, port = parse_director(director)
    try:
        token = read_token(token_file) if token_file is not None else None
    except WireError as exc:
        raise AgentError(str(exc)) from exc
    workload = CommandWorkload(argv, loadgen_logs)
    async with RemoteSession(
        host,
        port,
        token=token,
        label=label,
        workload=workload.description,
        out_root=out_root,
        tls=client_tls_context(tls_ca),
    ) as session:
        for phase in PHASES:
            async with session.phase(phase) as log_dir:
                await workload.run(phase, log_dir)
    assert session.result is not None
    return session.result


def result_text(result: AgentResult) -> str:
    head = result.summary or f"{result.name}: {result.status}" + (
        f": {result.error}" if result.error else ""
    )
    return f"{head}\n  files: {result.session_dir}"
