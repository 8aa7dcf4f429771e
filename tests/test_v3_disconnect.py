"""A v3 peer that stops at any step, or sends a step out of order, never wedges the director:
the session ends (analyzer stopped, ranges restored, data kept), the slot is free within
10 s, and the next client's session completes. Real loopback sockets, a simulated meter."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from analyzer_drivers.formats.session_layout import events_path
from tests.remote_util import Director, run, running_director
from tests.test_v3_compat import V3Client

FREE_WITHIN_S = 10.0
#: Steps after the handshake and ``new`` (``{id}`` is the session), then a disconnect.
SEQUENCES = {
    "after new": [],
    "mid ranging": ["start,ranging"],
    "after ranging": ["start,ranging", "stop,ranging"],
    "mid testing": ["start,ranging", "stop,ranging", "start,testing"],
    "before done": ["start,ranging", "stop,ranging", "start,testing", "stop,testing"],
    "testing first": ["start,testing"],
    "stop first": ["stop,ranging"],
    "done first": ["done"],
    "done mid ranging": ["start,ranging", "done"],
    "testing twice": ["start,ranging", "stop,ranging", "start,testing", "stop,testing", "start,testing"],
}
OUT_OF_ORDER = {"testing first", "stop first", "testing twice"}


async def free_after_close(director: Director, client: V3Client) -> float:
    """Seconds from the client's close until the director's slot is free."""
    closed = time.monotonic()
    client.writer.close()
    while director.service.active is not None:
        assert time.monotonic() - closed < FREE_WITHIN_S, f"still busy: {director.service.active}"
        await asyncio.sleep(0.02)
    return time.monotonic() - closed


async def new_session(client: V3Client) -> str:
    assert await client.ask("mlcommons/power client v3") == "mlcommons/power server v3"
    reply = await client.ask(f"new,,{uuid.uuid4()}")  # power-dev's default label is empty
    assert reply.startswith("OK "), reply
    return reply[3:].split(",")[0]


async def full_session(director: Director) -> list[str]:
    client = await V3Client.connect(director.port)
    session_id = await new_session(client)
    replies = []
    for step in ("start,ranging", "stop,ranging", "start,testing", "stop,testing", "done"):
        if step.startswith("stop"):
            await asyncio.sleep(0.3)
        replies.append(await client.ask(f"session,{session_id},{step}"))
    client.writer.close()
    return replies


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_disconnect_frees_the_director(tmp_path: Path, name: str) -> None:
    async def body() -> tuple[list[str], float, list[str], bool]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            client = await V3Client.connect(director.port)
            session_id = await new_session(client)
            replies = []
            for step in SEQUENCES[name]:
                if step.startswith("stop"):
                    await asyncio.sleep(0.3)
                replies.append(await client.ask(f"session,{session_id},{step}"))
            freed_s = await free_after_close(director, client)
            assert director.simulator is not None
            measuring = director.simulator.measurement is not None
            return replies, freed_s, await full_session(director), measuring

    replies, freed_s, next_replies, measuring = run(body)
    print(f"{name}: freed {freed_s:.3f} s after the disconnect")
    assert freed_s < FREE_WITHIN_S
    assert not measuring  # the analyzer was stopped
    assert next_replies == ["OK"] * 5  # the next client's session completes
    if name in OUT_OF_ORDER:
        assert replies[-1].startswith("Error: ") and "out of order" in replies[-1], replies
    first = sorted(p for p in (tmp_path / "director-runs").iterdir())[0]
    assert (first / "session.json").is_file() and (first / "raw").is_dir()  # data kept


def test_disconnect_while_a_start_waits(tmp_path: Path) -> None:
    """The client sends start and goes before the reply: noticed at once, not after the start."""
    async def body() -> float:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            client = await V3Client.connect(director.port)
            session_id = await new_session(client)
            client.writer.write(f"session,{session_id},start,ranging\r\n".encode())
            return await free_after_close(director, client)

    assert run(body) < FREE_WITHIN_S


def test_ranges_restored_after_a_disconnect_mid_testing(tmp_path: Path) -> None:
    async def body() -> tuple[float | None, float | None]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            client = await V3Client.connect(director.port)
            session_id = await new_session(client)
            for step in ("start,ranging", "stop,ranging", "start,testing"):
                await client.ask(f"session,{session_id},{step}")
            await free_after_close(director, client)
            assert director.simulator is not None
            return director.simulator.ranges.volts, director.simulator.ranges.amps

    assert run(body) == (None, None)  # back on the simulator's initial auto ranges


#: The four points of a v3 session where a client may vanish while the director waits, with a
#: settle long beside the release (MLPerf's is 10 s; 4 s keeps the four cases at 20 s instead of
#: 50 s, each start waiting one out): the session must not wait it out (the bench measures the
#: time: bench/v3_disconnect.py).
SETTLE_S = 4.0
WAIT_POINTS = {
    "after new": [],
    "during ranging": ["start,ranging"],
    "between phases": ["start,ranging", "stop,ranging"],
    "during testing": ["start,ranging", "stop,ranging", "start,testing"],
}
INITIAL_RANGES = (300.0, 5.0)  # fixed, so that a restore shows whatever the phase set


async def released_after_close(director: Director, client: V3Client) -> float:
    """Seconds from the client's close until the slot is free (the session task has ended:
    its analyzer stopped and its ranges restored before that)."""
    closed = time.monotonic()
    client.writer.close()
    while director.service.active is not None:
        assert time.monotonic() - closed < 3 * SETTLE_S, f"still busy: {director.service.active}"
        await asyncio.sleep(0.01)
    return time.monotonic() - closed


@pytest.mark.parametrize("name", list(WAIT_POINTS))
def test_disconnect_releases_the_analyzer_without_waiting_out_the_settle(tmp_path: Path, name: str) -> None:
    async def body() -> tuple[float, bool, tuple[float | None, float | None]]:
        async with running_director(tmp_path, settle_s=SETTLE_S,
                                    v3_allowed_addresses=("127.0.0.1",)) as director:
            assert director.simulator is not None
            director.simulator.ranges.volts, director.simulator.ranges.amps = INITIAL_RANGES
            client = await V3Client.connect(director.port)
            session_id = await new_session(client)
            for step in WAIT_POINTS[name]:  # a start waits out the settle: longer than ask()'s 10 s
                client.writer.write(f"session,{session_id},{step}\r\n".encode())
                reply = await asyncio.wait_for(client.reader.readline(), 3 * SETTLE_S)
                assert reply.decode().strip() == "OK", (step, reply)
            released_s = await released_after_close(director, client)
            ranges = director.simulator.ranges
            return released_s, director.simulator.measurement is not None, (ranges.volts, ranges.amps)

    released_s, measuring, ranges = run(body, timeout_s=6 * SETTLE_S)
    print(f"{name}: released {released_s:.3f} s after the disconnect (settle_s {SETTLE_S:g})")
    assert not measuring  # the analyzer was stopped
    assert ranges == INITIAL_RANGES  # and its ranges restored
    # Not after a settle: one waited out ends at least SETTLE_S after the disconnect; the quarter
    # left is for a busy machine. The time itself is bench/v3_disconnect.py's.
    assert released_s < 0.75 * SETTLE_S


def test_go_only_after_start_ranging(tmp_path: Path) -> None:
    """As power-dev's server (lib/server.py, Session.start: ``SR`` then ``Go`` on
    ``start,ranging``): a client that only sends ``new`` gets no measurement."""
    async def body() -> tuple[bool, list[str], bool]:
        async with running_director(tmp_path, v3_allowed_addresses=("127.0.0.1",)) as director:
            assert director.simulator is not None
            client = await V3Client.connect(director.port)
            session_id = await new_session(client)
            await asyncio.sleep(1.0)  # twenty settles (50 ms): the old director had sent Go by now
            for _ in range(3):
                await client.ask("time")
            before = director.simulator.measurement is not None
            (session,) = [p for p in director.out_root.iterdir() if p.is_dir()]
            journal = events_path(session).read_text()
            assert '"cmd": "Identify"' in journal  # connected and identified at new
            commands = [cmd for cmd in ('"cmd": "Go,', '"cmd": "SR,') if cmd in journal]
            assert await client.ask(f"session,{session_id},start,ranging") == "OK"
            after = director.simulator.measurement is not None
            client.writer.close()
            return before, commands, after

    before, commands, after = run(body)
    assert not before and commands == []  # nothing set, nothing started at new
    assert after  # measuring once start,ranging is answered
