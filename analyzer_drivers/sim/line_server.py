"""The skeleton the line-protocol simulators (PTDaemon, SCPI) share: listen, read bounded
newline-terminated commands per client, let the protocol answer, close every client cleanly.
Each simulator keeps only its protocol (``on_line``, ``on_line_too_long``)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Awaitable, Callable

MAX_LINE_BYTES = 4096


class LineServer(abc.ABC):
    """A TCP server of newline-terminated command lines."""

    # Cancel client handlers at close (one may be blocked inside a command, e.g. SCPI's
    # :COMM:WAIT); otherwise closing its transport ends it with EOF.
    cancel_clients_on_close = False

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def listen(self, host: str, port: int) -> int:
        """Listen; returns the bound port (``port=0`` picks a free one)."""
        self._server = await asyncio.start_server(self._serve_client, host, port, limit=MAX_LINE_BYTES)
        bound_port: int = self._server.sockets[0].getsockname()[1]
        return bound_port

    async def close_clients(self) -> None:
        """Stop listening and end every client's connection."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._clients.values()):
            writer.close()
        if self.cancel_clients_on_close:
            for task in list(self._clients):
                task.cancel()
        # Python 3.11's stream protocol logs a spurious CancelledError traceback for a handler
        # cancelled mid-read, so by default the closed transport ends it with EOF instead.
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()

    @abc.abstractmethod
    async def on_line(self, line: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one command line (decoded, stripped); False ends the connection."""

    @abc.abstractmethod
    async def on_line_too_long(self, writer: asyncio.StreamWriter) -> None:
        """A line over ``MAX_LINE_BYTES``: the protocol's answer (the connection then ends)."""

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = asyncio.current_task()
        assert client is not None
        self._clients[client] = writer
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError:
                    await self.on_line_too_long(writer)
                    break
                except asyncio.IncompleteReadError:
                    break
                if not await self.on_line(raw.decode("utf-8", errors="replace").strip(), reader, writer):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.pop(client, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


async def serve_until_cancelled(
    start: Callable[[], Awaitable[int]], banner: Callable[[int], str], close: Callable[[], Awaitable[None]],
    after_banner: Callable[[], None] | None = None,
) -> None:
    """Start a simulator, print its banner (with the bound port), run until cancelled, close."""
    bound = await start()
    print(banner(bound), flush=True)
    if after_banner is not None:
        after_banner()
    try:
        await asyncio.Event().wait()
    finally:
        await close()
