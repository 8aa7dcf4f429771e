"""The wire protocol itself: framing, MACs, file transfer, names, malformed input."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from analyzer_drivers.formats.timefmt import format_mlperf_time
from loadgen_bridge.remote.agent import shift_power_window
from loadgen_bridge.remote.wire import (
    PROTOCOL,
    Connection,
    MalformedMessage,
    WireError,
    auth_mac,
    client_handshake,
    decode_message,
    mac_matches,
    new_nonce,
    read_token,
    safe_relpath,
)
from tests.remote_util import TOKEN, run, running_director, write_detail_log


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n", b'{"no": "type"}\n', b"\xff\xfe\n"])
def test_malformed_lines_are_named_errors(line: bytes) -> None:
    with pytest.raises(MalformedMessage, match="malformed message"):
        decode_message(line)


def test_macs_bind_token_role_and_both_nonces() -> None:
    server, client = new_nonce(), new_nonce()
    mac = auth_mac(TOKEN, "client", server, client)
    assert mac_matches(TOKEN, "client", server, client, mac)
    assert not mac_matches(TOKEN, "server", server, client, mac)  # no reflection
    assert not mac_matches(TOKEN + b"x", "client", server, client, mac)
    assert not mac_matches(TOKEN, "client", new_nonce(), client, mac)  # no replay
    assert not mac_matches(TOKEN, "client", server, "short", mac)
    assert not mac_matches(TOKEN, "client", server, client, 12345)


def test_token_files_must_hold_a_real_secret(tmp_path: Path) -> None:
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(WireError, match="fewer than 16 bytes"):
        read_token(tmp_path / "short")
    with pytest.raises(WireError, match="cannot read token file"):
        read_token(tmp_path / "missing")


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "", ".hidden", "a\\b", "a/b/c/d/e", 7, None]
)
def test_path_traversal_names_are_refused(name: object) -> None:
    with pytest.raises(WireError, match="refused file name"):
        safe_relpath(name)


def test_plain_session_paths_pass() -> None:
    assert safe_relpath("run_1/spl.txt").parts == ("run_1", "spl.txt")


def test_clock_shift_moves_only_the_window(tmp_path: Path) -> None:
    begin_ns, end_ns = 1_790_000_000_123_000_000, 1_790_000_002_000_000_000
    write_detail_log(tmp_path, begin_ns, end_ns)
    original = (tmp_path / "mlperf_log_detail.txt").read_bytes()
    shifted = shift_power_window(original, 5_000_000_000).decode()
    assert f'"value": "{format_mlperf_time(begin_ns + 5_000_000_000)}"' in shifted
    assert f'"value": "{format_mlperf_time(end_ns + 5_000_000_000)}"' in shifted
    assert format_mlperf_time(begin_ns) not in shifted
    assert shifted.count("\n") == original.decode().count("\n")
    assert '"result_validity", "value": "VALID"' in shifted


async def _pair(handler: Callable[[Connection], Awaitable[None]], **limits: float) -> Connection:
    """A loopback server running ``handler`` on its side; returns our side's channel."""
    done = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(Connection(reader, writer, max_message_bytes=4096, read_timeout_s=2))
        except WireError as exc:
            done.set_result(str(exc))
        else:
            done.set_result("")

    server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=4096)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = Connection(
        reader, writer, max_message_bytes=4096, read_timeout_s=limits.get("timeout", 2)
    )
    channel.done = done  # type: ignore[attr-defined]
    return channel


def test_a_file_arrives_checked_and_a_corrupted_one_is_dropped(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000

    async def body() -> tuple[bytes, str, list[Path]]:
        async def receive(channel: Connection) -> None:
            good = await channel.recv()
            await channel.recv_file(good, tmp_path / "good.bin", 1 << 20)
            bad = await channel.recv()
            await channel.recv_file(bad, tmp_path / "bad.bin", 1 << 20)

        ours = await _pair(receive)
        (tmp_path / "source.bin").write_bytes(payload)
        await ours.send_file("good.bin", tmp_path / "source.bin")
        lie = {
            "type": "file",
            "name": "bad.bin",
            "size": 4,
            "sha256": hashlib.sha256(b"abcd").hexdigest(),
        }
        await ours.send(lie)
        await ours.write_raw(b"abce")
        error = await ours.done  # type: ignore[attr-defined]
        return (tmp_path / "good.bin").read_bytes(), error, sorted(tmp_path.glob("bad*"))

    received, error, leftovers = run(body)
    assert received == payload
    assert "corrupted (sha256 mismatch)" in error and leftovers == []


def test_a_file_over_the_limit_is_refused_before_any_byte(tmp_path: Path) -> None:
    async def body() -> str:
        async def receive(channel: Connection) -> None:
            await channel.recv_file(await channel.recv(), tmp_path / "big.bin", 1000)

        ours = await _pair(receive)
        await ours.send({"type": "file", "name": "big.bin", "size": 10**9, "sha256": "0" * 64})
        return str(await ours.done)  # type: ignore[attr-defined]

    assert "over the 1000-byte limit" in run(body)
    assert not (tmp_path / "big.bin.part").exists()


def test_the_director_answers_garbage_and_unknown_messages_and_keeps_serving(
    tmp_path: Path,
) -> None:
    async def body() -> list[dict[str, object]]:
        async with running_director(tmp_path) as director:
            reader, writer = await asyncio.open_connection("127.0.0.1", director.port)
            channel = Connection(reader, writer, max_message_bytes=65536, read_timeout_s=5)
            await client_handshake(channel, TOKEN)
            answers = []
            for line in (
                b"garbage\n",
                b'{"type": "teleport"}\n',
                b'{"type": "open", "label": "a/b"}\n',
            ):
                await channel.write_raw(line)
                answers.append(json.loads(await channel.recv_line()))
            await channel.close()
            return answers

    garbage, unknown, bad_label = run(body)
    assert garbage["type"] == "error" and "malformed" in str(garbage["message"])
    assert unknown["type"] == "error" and "expected 'open'" in str(unknown["message"])
    assert bad_label["type"] == "error" and "label" in str(bad_label["message"])


def test_a_hello_for_another_protocol_is_refused(tmp_path: Path) -> None:
    async def body() -> bytes:
        async with running_director(tmp_path) as director:
            reader, writer = await asyncio.open_connection("127.0.0.1", director.port)
            writer.write(
                json.dumps({"type": "hello", "protocol": "power-director/99"}).encode() + b"\n"
            )
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return answer

    first = json.loads(run(body).splitlines()[0])
    assert first["type"] == "error" and PROTOCOL in str(first["message"])
