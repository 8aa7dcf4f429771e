"""Hundreds of bogus connections while a session runs: its sampling stays on time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from pathlib import Path

from loadgen_bridge.remote.agent import RemoteSession
from tests.remote_util import TOKEN, Director, run, running_director
from tests.test_service import loadgen_stand_in

BOGUS_CONNECTIONS = 300
AT_ONCE = 30
JUNK = [b"\x00\xff" * 50 + b"\n", b'{"type": "hello"\n', b"x" * 200_000, b"mlcommons/power client v3\r\n",
        b'{"type": 5}\n', b"[" * 5000 + b"\n", b""]
POLL_INTERVAL_S = 0.1  # running_director's
LATE_POLL_S = 0.5


async def bogus_client(port: int, junk: bytes) -> None:
    with contextlib.suppress(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(junk)
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def flood(port: int, stop: asyncio.Event) -> int:
    rng = random.Random(6)
    sent = 0
    while sent < BOGUS_CONNECTIONS and not stop.is_set():
        await asyncio.gather(*(bogus_client(port, rng.choice(JUNK)) for _ in range(AT_ONCE)))
        sent += AT_ONCE
    return sent


async def session_under_flood(director: Director, tmp_path: Path) -> tuple[RemoteSession, int]:
    done = asyncio.Event()
    flooding = asyncio.create_task(flood(director.port, done))
    async with RemoteSession("127.0.0.1", director.port, token=TOKEN, out_root=tmp_path / "agent",
                             say=lambda _: None, label="load") as session:
        for phase in ("ranging", "testing"):
            async with session.phase(phase) as log_dir:
                await loadgen_stand_in(log_dir, 1.5)
    done.set()
    return session, await flooding


def test_bogus_connections_do_not_delay_sampling(tmp_path: Path) -> None:
    async def body() -> tuple[RemoteSession, int]:
        async with running_director(tmp_path) as director:
            return await session_under_flood(director, tmp_path)

    session, bogus = run(body, timeout_s=90)
    assert bogus >= BOGUS_CONNECTIONS
    result = session.result
    assert result is not None and result.status == "completed" and result.valid, result
    (director_session,) = [p for p in (tmp_path / "director-runs").iterdir() if p.is_dir()]
    events = [json.loads(line) for line in (director_session / "raw" / "events.jsonl").open()]
    polls_ns = [e["cmd_t_ns"] for e in events if e["kind"] == "exchange" and e["cmd"] == "RL"]
    gaps_s = [(b - a) / 1e9 for a, b in itertools.pairwise(polls_ns)]
    assert len(polls_ns) > 20
    assert max(gaps_s) < LATE_POLL_S, f"a poll came {max(gaps_s):.3f} s after the previous one"
