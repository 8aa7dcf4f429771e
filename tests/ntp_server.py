"""A minimal NTP server (RFC 5905 server mode) that answers with this machine's clock.

power-dev's client.py checks its offset to an NTP server before each phase and runs
``ntpdate`` when it is over 400 ms; answering with our own clock keeps the offset near 0,
so it never tries to set the clock. NTP is UDP port 123: binding it needs root.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import threading
import time
from collections.abc import Iterator

NTP_PORT = 123
NTP_EPOCH_OFFSET_S = 2208988800  # 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!B B B b 11I")  # the layout ntplib packs and unpacks


def _ntp_time(t_s: float) -> tuple[int, int]:
    ntp = t_s + NTP_EPOCH_OFFSET_S
    return int(ntp), int((ntp % 1) * 2**32)


def reply_to(request: bytes) -> bytes | None:
    if len(request) < PACKET.size:
        return None
    fields = PACKET.unpack(request[: PACKET.size])
    received = _ntp_time(time.time())
    client_tx_high, client_tx_low = fields[13], fields[14]
    version = (fields[0] >> 3) & 0x7
    sent = _ntp_time(time.time())
    return PACKET.pack(
        (0 << 6) | (version << 3) | 4,  # no leap warning, the client's version, server mode
        1, fields[2], -20, 0, 0, int.from_bytes(b"LOCL", "big"),
        *received, client_tx_high, client_tx_low, *received, *sent,
    )


def _bind(host: str, port: int, wait_s: float) -> socket.socket:
    """A UDP socket bound to ``host:port``, waiting up to ``wait_s`` while another test run on
    this machine holds the port (there is one port 123)."""
    deadline = time.monotonic() + wait_s
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextlib.contextmanager
def ntp_server(host: str = "127.0.0.1", port: int = NTP_PORT,
               wait_s: float = 200.0) -> Iterator[socket.socket]:
    """Serve NTP on ``host:port`` in a thread until the block ends."""
    sock = _bind(host, port, wait_s)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                request, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = reply_to(request)
            if reply is not None:
                sock.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock
    finally:
        stop.set()
        thread.join(5)
        sock.close()
