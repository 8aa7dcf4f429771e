"""A simulated MQTT device's network link: a loopback relay to the broker that a fault can cut
(the smart plug simulator's drop, restart and hang faults)."""

from __future__ import annotations

import asyncio
import contextlib

from analyzer_drivers.meters.plug import CANCEL_RETRY_S


class BrokerLink:
    """A simulated device's network: a loopback relay to the broker. Cutting it breaks the connection
    without an MQTT DISCONNECT, as a Wi-Fi drop does, so the broker publishes the last will."""

    def __init__(self, broker_host: str, broker_port: int) -> None:
        self.broker_host, self.broker_port = broker_host, broker_port
        self._server: asyncio.Server | None = None
        self._ends: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()

    async def open(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay = asyncio.current_task()
        if relay is not None:
            self._relays.add(relay)
            relay.add_done_callback(self._relays.discard)
        try:
            broker_reader, broker_writer = await asyncio.open_connection(self.broker_host, self.broker_port)
        except OSError:
            writer.close()
            return
        self._ends |= {writer, broker_writer}
        try:
            await asyncio.gather(_pipe(reader, broker_writer), _pipe(broker_reader, writer))
        finally:
            for end in (writer, broker_writer):
                self._ends.discard(end)
                end.close()

    def cut(self) -> None:
        for end in list(self._ends):
            end.transport.abort()

    async def close(self) -> None:
        """Cut the link and let its relays end (cancelling one makes Python 3.11's streams log
        a spurious traceback)."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._relays:
            await asyncio.wait(self._relays, timeout=CANCEL_RETRY_S)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
