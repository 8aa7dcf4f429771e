"""``power-director serve``: the director service that remote SUT agents connect to.

One connection at a time may hold a session; others get a clear ``busy``. Our agents
speak ``loadgen_bridge.remote.wire``; MLCommons power-dev clients (v3, docs/protocols.md#power-dev-v3) are
recognised by their first line and served by ``power_director.remote.v3`` from allowed
addresses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadgen_bridge.remote.wire import (
    V3_CLIENT_HELLO,
    Connection,
    MalformedMessage,
    WireError,
    decode_message,
    enable_tcp_keepalive,
    read_token,
    server_handshake,
)
from loadgen_bridge.workload import Workload
from power_director.config.loader import Config, ConfigError
from power_director.config.system_name import reported_host, system_under_test
from power_director.observe.exporter import DirectorExporter
from power_director.observe.observer import SessionObserver
from power_director.observe.telemetry import MqttTelemetry
from power_director.remote.host import SESSION_ERRORS, check_label
from power_director.remote.v3 import serve_v3
from power_director.remote.workload import RemoteWorkload
from power_director.session.assembly import build_session, open_exporter, open_telemetry
from power_director.session.session import Session
from reports.render.summary import summary_text

BYE_TIMEOUT_S = 10.0


def server_tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[service] cannot load tls_cert/tls_key: {exc}") from exc
    return context


class DirectorService:
    """Listens for agents; runs one Session at a time against the configured analyzer."""

    def __init__(
        self, config: Config, *, out_root: Path | None = None, say: Callable[[str], None] = print,
        observers: Sequence[SessionObserver] = (),
    ) -> None:
        self.config = config
        self.observers = list(observers)  # every session's, besides the exporter
        self.service = config.service
        self.out_root = out_root or Path(config.session.out_dir)
        self.say = say
        self.token = read_token(Path(self.service.token_file)) if self.service.token_file else None
        self.active: str | None = None  # who holds the session, for the "busy" answer
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._telemetry_stack = contextlib.AsyncExitStack()
        self.telemetry: MqttTelemetry | None = None  # [telemetry], open while the service runs
        self.exporter: DirectorExporter | None = None  # [telemetry] prometheus_port, likewise

    def new_session(self, workload: Workload, label: str, sut_host: str = "") -> Session:
        """A Session as ``run`` builds it: extra meters, telemetry and all; the system it
        measures is the remote SUT ``sut_host`` unless the config names one."""
        watching = [*self.observers, *([self.exporter] if self.exporter is not None else [])]
        session = build_session(self.config, workload, out_root=self.out_root, label=label,
                                say=self.say, observers=watching, telemetry=self.telemetry)
        session.meta = session.meta.updated(**system_under_test(self.config.session.system, sut_host))
        return session

    async def start(self) -> int:
        """Listen; returns the bound port (config port 0 picks a free one)."""
        tls = server_tls_context(self.service.tls_cert, self.service.tls_key)
        self.telemetry = await self._telemetry_stack.enter_async_context(
            open_telemetry(self.config.telemetry))
        self.exporter = self._telemetry_stack.enter_context(open_exporter(self.config.telemetry))
        try:
            self._server = await asyncio.start_server(
                self._connection,
                self.service.host,
                self.service.port,
                limit=self.service.max_message_bytes,
                ssl=tls,
                ssl_handshake_timeout=self.service.handshake_timeout_s if tls else None,
            )
        except BaseException:
            await self._telemetry_stack.aclose()
            raise
        port: int = self._server.sockets[0].getsockname()[1]
        scheme = "TLS" if tls else "plain TCP"
        auth = "token auth" if self.token else "NO auth (loopback only)"
        self.say(
            f"power-director service listening on {self.service.host}:{port} ({scheme}, {auth})"
        )
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
        await self._telemetry_stack.aclose()
        self.telemetry = self.exporter = None

    def claim(self, who: str) -> str | None:
        """Take the one session slot; returns who holds it instead when busy."""
        if self.active is not None:
            return self.active
        self.active = who
        return None

    def release(self) -> None:
        self.active = None

    # --- one connection ------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        enable_tcp_keepalive(writer)
        channel = Connection(
            reader,
            writer,
            max_message_bytes=self.service.max_message_bytes,
            read_timeout_s=self.service.read_timeout_s,
        )
        try:
            first = await channel.recv_line(self.service.handshake_timeout_s)
            if first.rstrip(b"\r\n") == V3_CLIENT_HELLO.encode():
                await serve_v3(self, channel)
            else:
                await self._agent(channel, decode_message(first))
        except WireError as exc:
            await channel.error("protocol", str(exc))
            self.say(f"{channel.peer}: {exc}")
        except Exception as exc:  # one bad connection must never take the service down
            self.say(f"{channel.peer}: internal error: {type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            # close() ends the connection; Python 3.11's stream callback would log a handler
            # that ends cancelled as an error with a traceback (3.12 checks).
            pass
        finally:
            await channel.close()

    def limits(self) -> dict[str, Any]:
        return {
            "keepalive_s": self.service.keepalive_s,
            "read_timeout_s": self.service.read_timeout_s,
            "max_message_bytes": self.service.max_message_bytes,
            "max_file_bytes": self.service.max_file_bytes,
        }

    async def _agent(self, channel: Connection, hello: dict[str, Any]) -> None:
        await server_handshake(channel, hello, self.token, self.limits())
        request = await self._next_request(channel)
        if request is None:
            return
        try:
            label = check_label(request.get("label"))
        except ConfigError as exc:
            await channel.error("bad_request", str(exc))
            return
        holder = self.claim(f"agent {channel.peer}")
        if holder is not None:
            await channel.error(
                "busy", f"director busy: a session for {holder} is running; try later"
            )
            self.say(f"{channel.peer}: refused, busy with {holder}")
            return
        try:
            await self._agent_session(
                channel, label, str(request.get("workload", "workload"))[:200],
                reported_host(request.get("host")) or channel.peer_host,
            )
        finally:
            self.release()

    async def _next_request(self, channel: Connection) -> dict[str, Any] | None:
        """The agent's ``open`` (None after a ``bye``); anything else is answered with an error."""
        while True:
            try:
                request = await channel.recv(self.service.handshake_timeout_s)
            except MalformedMessage as exc:
                await channel.error("malformed", str(exc))
                continue
            if request["type"] == "open":
                return request
            if request["type"] == "bye":
                return None
            await channel.error("unexpected", f"expected 'open', got {request['type']!r}")

    async def _agent_session(self, channel: Connection, label: str, workload: str, sut_host: str) -> None:
        remote = RemoteWorkload(channel, self.service, f"remote SUT {channel.peer}: {workload}")
        session = self.new_session(remote, label, sut_host)
        remote.bind(session.record_clock)
        self.active = f"agent {channel.peer} ({session.name})"
        await channel.send({"type": "opened", "session": session.name})
        async with channel.keepalive(self.service.keepalive_s):
            outcome = await self.measure(session)
            self.say(
                f"{session.name}: {outcome['status']}"
                + (f": {outcome['error']}" if outcome["error"] else "")
            )
            try:
                await channel.send({"type": "session_done", **outcome})
                await send_session_files(channel, session.dir)
                await channel.recv(BYE_TIMEOUT_S)
            except WireError as exc:
                self.say(f"{session.name}: could not deliver the results to the agent: {exc}")

    async def measure(self, session: Session) -> dict[str, Any]:
        """Run the session; its outcome as the ``session_done`` message carries it."""
        try:
            report = await session.run()
        except SESSION_ERRORS as exc:
            return {
                "session": session.name,
                "status": "aborted",
                "error": str(exc),
                "valid": False,
                "summary": "",
            }
        return {
            "session": session.name,
            "status": "completed",
            "error": None,
            "valid": report.valid,
            "summary": summary_text(report),
        }


async def send_session_files(channel: Connection, session_dir: Path) -> None:
    """Every file of the session directory, then ``files_end``."""
    for path in sorted(p for p in session_dir.rglob("*") if p.is_file()):
        await channel.send_file(path.relative_to(session_dir).as_posix(), path)
    await channel.send({"type": "files_end"})


async def serve(
    config: Config, say: Callable[[str], None] = print, observers: Sequence[SessionObserver] = ()
) -> None:
    """Run the service until cancelled (``power-director serve``)."""
    service = DirectorService(config, say=say, observers=observers)
    await service.start()
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await service.close()
