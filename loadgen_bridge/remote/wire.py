"""The director ↔ SUT-agent wire protocol: newline-delimited JSON over TCP (optionally TLS).

Every message is one JSON object with a ``type`` on one line, at most
``max_message_bytes`` long. A ``file`` message is followed by exactly ``size`` raw
bytes. Either side may send ``ping`` at any time; ``recv`` skips them, so they only
keep the other side's read timeout from firing while a phase runs.

Authentication is an HMAC-SHA256 challenge–response on a shared token, both ways:

    client → {"type": "hello", "protocol": PROTOCOL}
    server → {"type": "challenge", "nonce": N_s}                    (or "welcome" if no token)
    client → {"type": "auth", "nonce": N_c, "mac": HMAC(token, "client|N_s|N_c")}
    server → {"type": "welcome", "mac": HMAC(token, "server|N_s|N_c"), ...limits}

The token itself never crosses the wire and is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath
from typing import Any

from analyzer_drivers.formats.errors import WireError as WireError

PROTOCOL = "power-director/1"
V3_CLIENT_HELLO = "mlcommons/power client v3"
V3_SERVER_HELLO = "mlcommons/power server v3"
NONCE_BYTES = 32
MIN_TOKEN_BYTES = 16
CHUNK_BYTES = 64 * 1024
MAX_RELPATH_PARTS = 4

Message = dict[str, Any]


class MalformedMessage(WireError):
    """A line that is not a JSON object with a ``type``; the connection itself is fine."""


class AuthError(WireError):
    """The peer could not prove it holds the shared token."""


# --- the token and the MACs ------------------------------------------------------------
def read_token(path: Path) -> bytes:
    """The shared secret from a file (surrounding whitespace ignored)."""
    try:
        token = path.read_bytes().strip()
    except OSError as exc:
        raise WireError(f"cannot read token file {path}: {exc.strerror or exc}") from exc
    if len(token) < MIN_TOKEN_BYTES:
        raise WireError(
            f"token file {path} holds fewer than {MIN_TOKEN_BYTES} bytes; use a longer secret"
        )
    return token


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def auth_mac(token: bytes, role: str, server_nonce: str, client_nonce: str) -> str:
    text = f"{PROTOCOL}|{role}|{server_nonce}|{client_nonce}".encode()
    return hmac.new(token, text, hashlib.sha256).hexdigest()


def mac_matches(token: bytes, role: str, server_nonce: str, client_nonce: Any, mac: Any) -> bool:
    if not isinstance(client_nonce, str) or not isinstance(mac, str) or len(client_nonce) < 32:
        return False
    expected = auth_mac(token, role, server_nonce, client_nonce)
    return hmac.compare_digest(expected.encode(), mac.encode("utf-8", errors="replace"))


# --- messages --------------------------------------------------------------------------
def encode_message(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode_message(line: bytes) -> Message:
    """One received line → a message dict. Raises WireError saying what was wrong."""
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedMessage(f"malformed message (not JSON, or nested too deep): {line[:60]!r}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MalformedMessage("malformed message: not an object with a 'type'")
    return message


def field_of(message: Message, key: str, kind: type | tuple[type, ...]) -> Any:
    """``message[key]`` if it has type ``kind`` (never a bool), else an error naming it."""
    value = message.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MalformedMessage(f"'{message['type']}' message needs a valid {key}")
    return value


def safe_relpath(name: Any) -> PurePosixPath:
    """A relative path with no '..', no root and no odd parts, or a WireError."""
    if not isinstance(name, str) or not name or len(name) > 255 or "\\" in name or "\x00" in name:
        raise WireError(f"refused file name {str(name)[:60]!r}")
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or len(path.parts) > MAX_RELPATH_PARTS
        or any(part in ("..", ".", "") or part.startswith(".") for part in path.parts)
    ):
        raise WireError(f"refused file name {name[:60]!r}: not a plain relative path")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the connection ------------------------------------------------------------------
class Connection:
    """One connection: framed messages with limits and timeouts, file transfer, keepalive."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_message_bytes: int,
        read_timeout_s: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.max_message_bytes = max_message_bytes
        self.read_timeout_s = read_timeout_s
        self._send_lock = asyncio.Lock()
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "peer"
        self.peer_host = peer[0] if isinstance(peer, tuple) else ""

    async def recv_line(self, timeout_s: float | None = None) -> bytes:
        """One raw line (with its newline); a slow or silent peer times out as a whole."""
        try:
            return await asyncio.wait_for(
                self.reader.readuntil(b"\n"), timeout_s or self.read_timeout_s
            )
        except asyncio.TimeoutError:
            raise WireError(
                f"{self.peer} sent no complete message within "
                f"{timeout_s or self.read_timeout_s:g} s"
            ) from None
        except asyncio.LimitOverrunError:
            raise WireError(
                f"{self.peer} sent a message over {self.max_message_bytes} bytes"
            ) from None
        except asyncio.IncompleteReadError as exc:
            more = "mid-message" if exc.partial else ""
            raise WireError(f"{self.peer} closed the connection {more}".rstrip()) from None
        except (ConnectionError, OSError) as exc:
            raise WireError(f"connection to {self.peer} lost: {exc.strerror or exc}") from None

    async def recv(self, timeout_s: float | None = None) -> Message:
        """The next message that is not a ping."""
        while True:
            message = decode_message(await self.recv_line(timeout_s))
            if message["type"] != "ping":
                return message

    async def send(self, message: Message) -> None:
        async with self._send_lock:
            await self.write_raw(encode_message(message))

    async def write_raw(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.read_timeout_s)
        except asyncio.TimeoutError:
            raise WireError(f"{self.peer} stopped reading for {self.read_timeout_s:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise WireError(f"connection to {self.peer} lost: {exc.strerror or exc}") from None

    async def error(self, code: str, text: str) -> None:
        """Tell the peer what went wrong; a peer that has gone is no further problem."""
        with contextlib.suppress(WireError):
            await self.send({"type": "error", "code": code, "message": text})

    # --- files -------------------------------------------------------------------------
    async def send_file(
        self, name: str, data_path: Path, rewrite: Callable[[bytes], bytes] | None = None
    ) -> None:
        """A ``file`` header then the bytes; ``rewrite`` (test-only) transforms them first."""
        async with self._send_lock:
            if rewrite is None:
                size, digest = data_path.stat().st_size, sha256_of(data_path)
                await self.write_raw(
                    encode_message({"type": "file", "name": name, "size": size, "sha256": digest})
                )
                with data_path.open("rb") as source:
                    for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
                        await self.write_raw(chunk)
                return
            data = rewrite(data_path.read_bytes())
            digest = hashlib.sha256(data).hexdigest()
            await self.write_raw(
                encode_message({"type": "file", "name": name, "size": len(data), "sha256": digest})
            )
            await self.write_raw(data)

    async def recv_file(self, header: Message, dest: Path, max_bytes: int) -> int:
        """The bytes announced by a ``file`` header into ``dest``; checks size and sha256."""
        size = field_of(header, "size", int)
        expected = field_of(header, "sha256", str)
        if not 0 <= size <= max_bytes:
            raise WireError(
                f"file {header.get('name')!r} of {size} bytes is over the {max_bytes}-byte limit"
            )
        digest = hashlib.sha256()
        part = dest.with_name(dest.name + ".part")
        with part.open("wb") as sink:
            left = size
            while left:
                chunk = await self._read_some(min(left, CHUNK_BYTES))
                digest.update(chunk)
                sink.write(chunk)
                left -= len(chunk)
        if not hmac.compare_digest(digest.hexdigest(), expected):
            part.unlink()
            raise WireError(f"file {dest.name} arrived corrupted (sha256 mismatch)")
        part.replace(dest)
        return int(size)

    async def _read_some(self, limit: int) -> bytes:
        try:
            chunk = await asyncio.wait_for(self.reader.read(limit), self.read_timeout_s)
        except asyncio.TimeoutError:
            raise WireError(f"{self.peer} stalled mid-file for {self.read_timeout_s:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise WireError(f"connection to {self.peer} lost: {exc.strerror or exc}") from None
        if not chunk:
            raise WireError(f"{self.peer} closed the connection mid-file")
        return chunk

    # --- lifetime ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def keepalive(self, interval_s: float) -> AsyncIterator[None]:
        """Send ``ping`` every ``interval_s`` while the body runs."""

        async def beat() -> None:
            with contextlib.suppress(WireError):
                while True:
                    await asyncio.sleep(interval_s)
                    await self.send({"type": "ping"})

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


def enable_tcp_keepalive(writer: asyncio.StreamWriter) -> None:
    """Let the kernel notice a peer that vanished without a FIN (cable pulled, host died)."""
    import socket

    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


# --- the handshake -----------------------------------------------------------------------
async def client_handshake(channel: Connection, token: bytes | None) -> Message:
    """Prove we hold the token and check that the director does too; returns its welcome."""
    await channel.send({"type": "hello", "protocol": PROTOCOL})
    reply = await _expect(channel, "challenge", "welcome")
    if reply["type"] == "welcome":
        if token is not None:
            raise AuthError(
                f"director {channel.peer} does not authenticate; refusing to use it with a token"
            )
        return reply
    if token is None:
        raise AuthError(f"director {channel.peer} requires a token; give --token-file")
    server_nonce = field_of(reply, "nonce", str)
    client_nonce = new_nonce()
    mac = auth_mac(token, "client", server_nonce, client_nonce)
    await channel.send({"type": "auth", "nonce": client_nonce, "mac": mac})
    welcome = await _expect(channel, "welcome")
    if not mac_matches(token, "server", server_nonce, client_nonce, welcome.get("mac")):
        raise AuthError(f"director {channel.peer} could not prove it holds the token")
    return welcome


async def server_handshake(
    channel: Connection, hello: Message, token: bytes | None, limits: Message
) -> None:
    """Answer a ``hello``; raises AuthError (after telling the peer) when auth fails."""
    if hello["type"] != "hello" or hello.get("protocol") != PROTOCOL:
        await channel.error("protocol", f"expected a hello for {PROTOCOL}")
        raise WireError(f"{channel.peer} does not speak {PROTOCOL}")
    if token is None:
        await channel.send({"type": "welcome", **limits})
        return
    server_nonce = new_nonce()
    await channel.send({"type": "challenge", "nonce": server_nonce})
    auth = await channel.recv()
    if auth["type"] != "auth" or not mac_matches(
        token, "client", server_nonce, auth.get("nonce"), auth.get("mac")
    ):
        await channel.error("auth_failed", "authentication failed")
        raise AuthError(f"{channel.peer} failed authentication")
    mac = auth_mac(token, "server", server_nonce, auth["nonce"])
    await channel.send({"type": "welcome", "mac": mac, **limits})


async def _expect(channel: Connection, *types: str) -> Message:
    message = await channel.recv()
    if message["type"] == "error":
        raise WireError(f"director {channel.peer} says: {message.get('message', 'error')}")
    if message["type"] not in types:
        raise WireError(
            f"expected {' or '.join(types)} from {channel.peer}, got {message['type']!r}"
        )
    return message
