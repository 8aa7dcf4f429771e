"""Residual error of the SUT↔director offset estimate over loopback, with a shifted SUT clock.

Runs the real director half (``measure_offset``) against the real agent half
(``answer_time_request``) over TCP on 127.0.0.1, the agent's clock shifted by
SHIFT_S, directly and through a user-space proxy that delays every chunk in each
direction by 20 ± 10 ms (uniform, order kept). Prints one table row per path.

    python bench/clock_alignment.py [--trials N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure
from loadgen_bridge.remote.agent import answer_time_request
from loadgen_bridge.remote.wire import Connection, WireError
from power_director.remote.workload import measure_offset

SHIFT_S = 5.0
SHIFT_NS = int(SHIFT_S * 1e9)
TARGET_MS = {"loopback": 2.0, "proxy 20±10 ms": 5.0}
LIMIT = 1 << 20
HANDLERS: set[asyncio.Task[None]] = set()


def _tracked(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        HANDLERS.add(task)
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await handler(reader, writer)

    return run


def _channel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Connection:
    return Connection(reader, writer, max_message_bytes=LIMIT, read_timeout_s=10)


async def _sut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The agent's clock-exchange half, on a clock SHIFT_S ahead."""
    channel = _channel(reader, writer)

    def now_ns() -> int:
        return time.time_ns() + SHIFT_NS

    with contextlib.suppress(WireError):
        while True:
            await answer_time_request(channel, await channel.recv(), now_ns)


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: Callable[[], float]
) -> None:
    """Forward chunks, each released ``delay_s()`` after it arrived but never before the last."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def release() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(release())
    last_due = 0.0
    try:
        while data := await reader.read(65536):
            last_due = max(last_due, loop.time() + delay_s())
            queue.put_nowait((last_due, data))
        while not queue.empty():
            await asyncio.sleep(0.01)
    finally:
        sender.cancel()
        writer.close()


@contextlib.asynccontextmanager
async def jitter_proxy(target_port: int, rng: random.Random) -> AsyncIterator[int]:
    def delay_s() -> float:
        return rng.uniform(0.010, 0.030)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            _pump(reader, up_writer, delay_s),
            _pump(up_reader, writer, delay_s),
            return_exceptions=True,
        )

    server = await asyncio.start_server(_tracked(relay), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@dataclass
class Row:
    path: str
    errors_ms: list[float]
    bounds_ms: list[float]

    def line(self, rounds: int) -> str:
        worst, median = max(self.errors_ms), statistics.median(self.errors_ms)
        inside = all(e <= b + 1e-6 for e, b in zip(self.errors_ms, self.bounds_ms, strict=True))
        verdict = "ok" if worst <= TARGET_MS[self.path] else "OVER TARGET"
        return (
            f"{self.path:<16} {len(self.errors_ms):>6} {rounds:>6} {median:>10.3f} {worst:>10.3f} "
            f"{statistics.median(self.bounds_ms):>10.3f} {inside!s:>8} "
            f"{TARGET_MS[self.path]:>7.1f}  {verdict}"
        )


async def _trials(port: int, path: str, trials: int, rounds: int) -> Row:
    row = Row(path, [], [])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = _channel(reader, writer)
    for _ in range(trials):
        estimate = await measure_offset(channel, rounds)
        row.errors_ms.append(abs(estimate.offset_ns - SHIFT_NS) / 1e6)
        row.bounds_ms.append(estimate.bound_ns / 1e6)
    await channel.close()
    return row


async def measure(trials: int, rounds: int) -> list[Row]:
    server = await asyncio.start_server(_tracked(_sut), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rows = [await _trials(port, "loopback", trials, rounds)]
    async with jitter_proxy(port, random.Random(1)) as proxy_port:
        rows.append(await _trials(proxy_port, "proxy 20±10 ms", trials, rounds))
    server.close()
    for task in HANDLERS:
        task.cancel()
    await asyncio.gather(*HANDLERS, return_exceptions=True)
    return rows


def run(full: bool = False) -> list[Figure]:
    rows = asyncio.run(measure(100 if full else 20, 16))
    return [Figure(f"clock residual, SUT shifted {SHIFT_S:g} s, {row.path}: median / max",
                   f"{statistics.median(row.errors_ms):.3f} ms / {max(row.errors_ms):.3f} ms "
                   f"({len(row.errors_ms)} trials)",
                   f"≤ {TARGET_MS[row.path]:g} ms", max(row.errors_ms) <= TARGET_MS[row.path])
            for row in rows]


async def main(trials: int, rounds: int) -> int:
    rows = await measure(trials, rounds)
    print(
        f"SUT clock shifted by {SHIFT_S:+.1f} s; "
        f"|estimated offset − shift| per trial of {rounds} rounds"
    )
    print(
        f"{'path':<16} {'trials':>6} {'rounds':>6} {'median ms':>10} {'max ms':>10} "
        f"{'bound ms':>10} {'in bound':>8} {'target':>7}"
    )
    for row in rows:
        print(row.line(rounds))
    return 0 if all(max(r.errors_ms) <= TARGET_MS[r.path] for r in rows) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=16)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.trials, args.rounds)))
