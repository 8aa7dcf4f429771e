"""The PTDaemon simulator and the PTDaemon driver, talking over real loopback sockets."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from analyzer_drivers.base import AnalyzerError, Ranges
from analyzer_drivers.meters.ptd import PtdAnalyzer, parse_ranges
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator

T = TypeVar("T")


def with_simulator(body: Callable[[PtdSimulator, int], Awaitable[T]], **sim_args: object) -> T:
    async def main() -> T:
        simulator = PtdSimulator(model=constant_model(150.0, volts=230.0), **sim_args)  # type: ignore[arg-type]
        port = await simulator.start_server("127.0.0.1", 0)
        try:
            return await body(simulator, port)
        finally:
            await simulator.close()

    return asyncio.run(main())


def test_identify_as_simulator_and_as_wt310() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[str, str, int]:
        async with PtdAnalyzer("127.0.0.1", port) as meter:
            info = await meter.identify()
            return info.name, info.model, info.averaging_ms

    assert with_simulator(body) == ("PowerDirectorSimulator", "SIM", 1000)
    name, model, _ = with_simulator(body, identity="wt310")
    assert (name, model) == ("YokogawaWT310", "WT310")


def test_set_ranges_snaps_up_and_reads_back() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[Ranges, Ranges]:
        async with PtdAnalyzer("127.0.0.1", port) as meter:
            await meter.set_ranges(Ranges(volts=240.0, amps=0.7))
            fixed = await meter.get_ranges()
            await meter.set_ranges(Ranges.auto())
            return fixed, await meter.get_ranges()

    fixed, auto = with_simulator(body)
    assert fixed == Ranges(volts=300.0, amps=1.0)
    assert auto == Ranges.auto()


def test_a_measurement_streams_samples_with_the_model_power() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[list[float], list[int], str, str]:
        async with PtdAnalyzer("127.0.0.1", port) as meter:
            await meter.start("unit_testing", 50)
            got = []
            for _ in range(6):
                await asyncio.sleep(0.1)
                got += await meter.poll()
            await meter.stop()
            watts_reply = await meter.command("Watts")
            uncertainty_reply = await meter.command("Uncertainty")
            return [s.watts for s in got], [s.t_ns for s in got], watts_reply, uncertainty_reply

    watts, stamps, watts_reply, uncertainty_reply = with_simulator(body)
    assert 8 <= len(watts) <= 14  # 0.6 s at 50 ms
    assert all(w == pytest.approx(150.0) for w in watts)
    assert stamps == sorted(stamps)
    assert all(40 <= (b - a) / 1e6 <= 60 for a, b in itertools.pairwise(stamps))
    assert watts_reply.startswith("Watts,150.000000,150.000000,150.000000,")
    fields = uncertainty_reply.split(",")
    assert fields[0] == "Uncertainty" and 0 < float(fields[1]) < 0.01


def test_error_replies_become_clear_errors() -> None:
    async def body(sim: PtdSimulator, port: int) -> list[str]:
        async with PtdAnalyzer("127.0.0.1", port) as meter:
            replies = [await meter.command("Frobnicate"), await meter.command("Stop")]
            with pytest.raises(AnalyzerError, match="refused 'SR,V,9999'"):
                await meter.set_ranges(Ranges(volts=9999.0, amps=None))
            await meter.start("a", 100)
            with pytest.raises(AnalyzerError, match=r"refused 'Go,100,0,b'.*already running"):
                await meter.start("b", 100)
            with pytest.raises(AnalyzerError, match="cannot hold ','"):
                await meter.start("bad,mark", 100)
            return replies

    assert with_simulator(body) == ["Unknown command", "Error: no measurement to stop"]


def test_log_file_has_marked_month_first_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log_path = tmp_path / "ptd.log"

    async def body(sim: PtdSimulator, port: int) -> None:
        async with PtdAnalyzer("127.0.0.1", port) as meter:
            await meter.start("sess_ranging", 20)
            await asyncio.sleep(0.15)
            await meter.stop()

    with_simulator(body, log_path=log_path)
    lines = log_path.read_text().splitlines()
    assert len(lines) >= 3
    first = lines[0].split(",")
    assert first[0] == "Time" and first[2] == "Watts" and first[-2:] == ["Mark", "sess_ranging"]
    assert time.strftime("%m-%d-%Y", time.gmtime()) == first[1][:10]


def test_garbage_and_overlong_lines_on_the_raw_socket() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\xff\xfe garbage \x00\r\n")
        garbage_reply = await reader.readline()
        writer.write(b"x" * 10_000 + b"\r\n")
        overlong_reply = await reader.read(1000)
        writer.close()
        return garbage_reply, overlong_reply

    garbage_reply, overlong_reply = with_simulator(body)
    assert garbage_reply == b"Unknown command\r\n"
    assert overlong_reply.startswith(b"Error: command too long")


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve_once(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_dropped_connection_gives_a_clear_error() -> None:
    async def hello_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"Hello, PTDaemon here!\r\n")
        await reader.readline()  # the next command: hang up instead of answering
        writer.close()

    async def main() -> None:
        server, port = await _serve_once(hello_then_drop)
        async with server:
            meter = PtdAnalyzer("127.0.0.1", port, connect_timeout_s=2)
            await meter.connect()
            with pytest.raises(AnalyzerError, match=r"closed the connection during 'Identify'"):
                await meter.identify()
            await meter.close()

    asyncio.run(main())


def test_a_silent_daemon_times_out_with_a_clear_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        server, port = await _serve_once(silent)
        async with server:
            meter = PtdAnalyzer("127.0.0.1", port, connect_timeout_s=2, reply_timeout_s=0.3)
            with pytest.raises(AnalyzerError, match=r"did not answer 'Hello' within 0.3 s"):
                await meter.connect()
            await meter.close()
            server.close()

    asyncio.run(main())


def test_nothing_listening_gives_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    meter = PtdAnalyzer("127.0.0.1", port, connect_timeout_s=0.5)
    with pytest.raises(AnalyzerError, match=f"cannot connect to PTDaemon at 127.0.0.1:{port}"):
        asyncio.run(meter.connect())


def test_parse_ranges_reads_auto_flags_and_rejects_garbage() -> None:
    assert parse_ranges("Ranges,0,2.000000,1,300.000000") == Ranges(volts=None, amps=2.0)
    assert parse_ranges("Ranges,-1,-1.000000,-1,-1.000000") == Ranges.auto()
    with pytest.raises(AnalyzerError, match="malformed range reply"):
        parse_ranges("Ranges,x")
