"""Fast and multichannel PTDaemon ingest: simulator batches, RL,*,*, bulk replies, the journal."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.ptd_line import (
    format_sample_line,
    format_sample_lines,
    parse_sample_line,
    parse_sample_lines,
)
from analyzer_drivers.formats.sample import Channel, Sample
from analyzer_drivers.formats.session_layout import samples_path
from analyzer_drivers.meters.ptd import MAX_RL_SAMPLES, PtdAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session import journal as journal_module
from power_director.session.journal import Journal
from power_director.session.session import Session
from reports.spl import read_spl
from tests.conftest import run_cli
from tests.remote_util import write_detail_log

T = TypeVar("T")
T0_NS = 1_795_000_000_123_000_000


def with_simulator(body: Callable[[PtdSimulator, int], Awaitable[T]], **sim_args: object) -> T:
    async def main() -> T:
        simulator = PtdSimulator(model=constant_model(240.0, volts=230.0), **sim_args)  # type: ignore[arg-type]
        port = await simulator.start_server("127.0.0.1", 0)
        try:
            return await asyncio.wait_for(body(simulator, port), 60)
        finally:
            await simulator.close()

    return asyncio.run(main())


async def measure(meter: PtdAnalyzer, seconds: float) -> tuple[list[Sample], int]:
    """Polled samples of a ``seconds`` measurement, and the simulator's own count of it."""
    await meter.start("unit_testing", 10)
    got: list[Sample] = []
    for _ in range(round(seconds / 0.1)):
        await asyncio.sleep(0.1)
        got += await meter.poll()
    await meter.stop()
    got += await meter.poll()
    taken = int((await meter.command("Watts")).split(",")[4])
    return got, taken


# --- the simulator --------------------------------------------------------------------------
def test_a_fast_simulator_sends_every_sample_at_its_interval() -> None:
    elapsed_s: list[float] = []

    async def body(sim: PtdSimulator, port: int) -> tuple[list[Sample], int]:
        meter = PtdAnalyzer("127.0.0.1", port)
        async with meter:
            await meter.identify()
            started = time.monotonic()
            measured = await measure(meter, 0.5)
            elapsed_s.append(time.monotonic() - started)
            return measured

    got, taken = with_simulator(body, interval_ms=0.1)
    assert len(got) == taken  # nothing lost, nothing doubled, though 10 samples share each stamp
    # 10 kHz for the time the measurement ran: 0.5 s of sleeps, longer on a busy machine.
    assert 0.4 * 10_000 <= taken <= 10_000 * elapsed_s[0] + 100
    stamps = [s.t_ns for s in got]
    assert stamps == sorted(stamps)
    assert max(stamps.count(t) for t in set(stamps)) >= 5
    assert (stamps[-1] - stamps[0]) / 1e9 == pytest.approx(len(got) * 1e-4, abs=2e-3)


def test_batched_sample_times_step_by_the_interval() -> None:
    async def body(sim: PtdSimulator, port: int) -> list[int]:
        sim.handle("Go,1000,0,x_testing")
        await asyncio.sleep(0.1)
        sim.handle("Stop")
        return [s.t_ns for s in sim.unread]

    stamps = with_simulator(body, interval_ms=0.25)
    assert len(stamps) >= 200
    assert {b - a for a, b in itertools.pairwise(stamps)} == {250_000}


def test_rl_every_channel_on_single_and_multichannel_daemons() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[str, list[str], list[str]]:
        identify = sim.handle("Identify")
        sim.handle("Go,1000,0,x_testing")
        await asyncio.sleep(0.05)
        every = sim.handle("RL,*,*").split("\r\n")
        await asyncio.sleep(0.05)
        plain = sim.handle("RL").split("\r\n")
        return identify, every, plain

    identify, every, plain = with_simulator(body, interval_ms=1.0, channels=3)
    assert identify.split(",")[11:15] == ["mode=power", "1", "1", "3"]
    assert every[0] == f"Last {len(every) - 1} samples from sum channel and channels 1 - 3"
    assert len(every) > 10
    sample = parse_sample_line(every[1])[0]
    assert sample.volts == sample.amps == sample.pf == -1.0
    assert [c.watts for c in sample.channels] == [80.0, 80.0, 80.0] and sample.watts == 240.0
    assert all(c.volts == 230.0 for c in sample.channels)
    assert plain[1].count(",") == 9 and ",Volts,-1.000000," in plain[1]  # the sum alone

    def single(sim: PtdSimulator, port: int) -> Awaitable[str]:
        async def reply() -> str:
            return sim.handle("RL,*,*")

        return reply()

    assert with_simulator(single) == "Invalid number of parameters"


# --- the driver ---------------------------------------------------------------------------------
def test_the_driver_polls_every_channel_of_a_multichannel_daemon() -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[bool, list[Sample], int]:
        meter = PtdAnalyzer("127.0.0.1", port)
        async with meter:
            await meter.identify()
            got, taken = await measure(meter, 0.3)
            return meter.multichannel, got, taken

    multichannel, got, taken = with_simulator(body, interval_ms=1.0, channels=8)
    assert multichannel and len(got) == taken >= 200
    assert all(len(s.channels) == 8 and s.watts == 240.0 for s in got)
    assert all(c == Channel(30.0, 230.0, c.amps, 1.0) for s in got for c in s.channels)

    def single(sim: PtdSimulator, port: int) -> Awaitable[bool]:
        async def probe() -> bool:
            meter = PtdAnalyzer("127.0.0.1", port)
            async with meter:
                await meter.identify()
                return meter.multichannel

        return probe()

    assert with_simulator(single) is False


@contextlib.asynccontextmanager
async def fake_daemon(rl_reply: bytes) -> AsyncIterator[int]:
    """Answers Hello, and RL with ``rl_reply``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while line := await reader.readuntil(b"\n"):
                writer.write(b"Hello, PTDaemon here!\r\n" if line.startswith(b"Hello") else rl_reply)
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (f"Last {MAX_RL_SAMPLES + 1} samples\r\n".encode(), "announced 500001 RL samples"),
        (b"Last 1 samples\r\n" + b"Time,x\r\n" * 2, "more than the 1 lines"),
        (b"Last 2 samples\r\nTime,x\r\n", "did not answer 'RL'"),
    ],
)
def test_an_rl_reply_is_bounded_by_its_header(reply: bytes, error: str) -> None:
    async def body() -> None:
        async with fake_daemon(reply) as port:
            meter = PtdAnalyzer("127.0.0.1", port, reply_timeout_s=0.5)
            async with meter:
                with pytest.raises(AnalyzerError, match=error):
                    await meter.poll()

    asyncio.run(asyncio.wait_for(body(), 30))


# --- the sample text: the batch functions agree with the one-line ones ------------------------
SAMPLES = [
    Sample(T0_NS, 150.25, 230.1, 0.65, 0.99),
    Sample(T0_NS, math.nan, -math.nan, math.inf, -1.0),
    Sample(T0_NS + 400_000, -2.0, 229.0, 0.5, 1.0),
    Sample(T0_NS + 1_000_000, 60.0, -1.0, -1.0, -1.0, (Channel(20.0, 230.0, 0.1, 0.9),) * 3),
]


@pytest.mark.parametrize("mark", [None, "sess_testing"])
def test_format_sample_lines_is_format_sample_line_of_each(mark: str | None) -> None:
    assert format_sample_lines(SAMPLES, mark) == [format_sample_line(s, mark) for s in SAMPLES]


def test_sample_text_of_sentinels_and_non_finite_values() -> None:
    line = format_sample_line(SAMPLES[1], "m")
    assert line == "Time,11-18-2026 11:06:40.123,Watts,nan,Volts,nan,Amps,inf,PF,-1.000000,Mark,m"


STAMPS = st.builds(
    "{:02d}-{:02d}-{:04d}{}{:02d}:{:02d}:{:02d}.{:03d}".format,
    st.integers(0, 13), st.integers(0, 32), st.integers(1960, 2200), st.sampled_from([" ", "T", "  "]),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.integers(0, 999),
)


@settings(max_examples=500, deadline=None)
@given(STAMPS, st.sampled_from([None, "", "١"]))
def test_stamps_parse_as_strptime_does(stamp: str, last_digit: str | None) -> None:
    if last_digit is not None:  # a short or a non-ASCII millisecond field
        stamp = stamp[:-1] + last_digit
    line = f"Time,{stamp},Watts,1,Volts,2,Amps,3,PF,1"
    try:
        expected = parse_sample_line(line)[0]
    except AnalyzerError:
        with pytest.raises(AnalyzerError):
            parse_sample_lines([line, line])
        return
    assert parse_sample_lines([line, line]) == [expected, expected]


def test_parse_sample_lines_reads_batches_of_either_shape() -> None:
    single = format_sample_lines(SAMPLES[:3])
    multi = format_sample_lines(SAMPLES[3:] * 4)
    for lines in (single, multi, single + multi, []):
        assert repr(parse_sample_lines(lines)) == repr([parse_sample_line(x)[0] for x in lines])
    with pytest.raises(AnalyzerError, match="bad value"):
        parse_sample_lines([*single, single[0].replace("150.25", "15O.25")])


LINE_FIELDS = st.sampled_from(
    ["Time", "Watts", "Volts", "Amps", "PF", "Mark", "Ch1", "Ch2", "1.5", "-1", "nan", "x", " 2 ",
     "11-22-2026 12:18:57.073", "02-30-2026 00:00:00.000", "1-2-2026 3:4:5.6"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(LINE_FIELDS, min_size=8, max_size=30).map(",".join), max_size=6),
       st.sampled_from(format_sample_lines(SAMPLES)))
def test_parse_sample_lines_agrees_with_parse_sample_line(lines: list[str], good: str) -> None:
    batch = [good, *lines, good]
    try:
        expected = repr([parse_sample_line(line)[0] for line in batch])
    except AnalyzerError:
        with pytest.raises(AnalyzerError):
            parse_sample_lines(batch)
        return
    assert repr(parse_sample_lines(batch)) == expected


# --- the journal and a whole session ------------------------------------------------------------
def test_the_journal_keeps_samples_that_share_a_stamp(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "raw")
    same = [Sample(T0_NS, float(w), 230.0, 1.0, 1.0) for w in range(1, 21)]
    journal.record_samples("m", same, "s_testing")
    journal.record_samples("m", [], "s_testing")
    written = samples_path(tmp_path / "raw", "m").read_text()  # flushed before close
    assert written.splitlines() == format_sample_lines(same, "s_testing")
    journal.close()


def test_a_meter_journaled_at_its_source_is_written_out_every_few_seconds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A meter agent's samples (its journal is the copy of record) are written out every
    AT_SOURCE_FLUSH_S and at close; a local meter's line by line."""
    clock_s = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock_s[0])
    journal = Journal(tmp_path / "raw", ["stream-a1-psu1"])
    sample = [Sample(T0_NS, 200.0, 230.0, 1.0, 1.0)]
    journal.record_samples("stream-a1-psu1", sample, "s_testing")
    journal.record_samples("local", sample, "s_testing")

    def on_disk(name: str) -> str:
        return samples_path(tmp_path / "raw", name).read_text()

    assert (on_disk("stream-a1-psu1"), on_disk("local").count("\n")) == ("", 1)
    clock_s[0] += journal_module.AT_SOURCE_FLUSH_S
    journal.record_samples("local", sample, "s_testing")
    assert on_disk("stream-a1-psu1").splitlines() == format_sample_lines(sample, "s_testing")
    journal.record_samples("stream-a1-psu1", sample, "s_testing")
    journal.close()
    assert len(on_disk("stream-a1-psu1").splitlines()) == 2


class IdleWorkload:
    """Sleeps, then leaves a LoadGen log of its window."""

    description = "idle"

    async def run(self, phase: str, log_dir: Path) -> None:
        begin_ns = time.time_ns()
        await asyncio.sleep(0.4)
        write_detail_log(log_dir, begin_ns, time.time_ns())


def test_multichannel_samples_reach_the_journal_and_spl(tmp_path: Path) -> None:
    async def body(sim: PtdSimulator, port: int) -> tuple[Session, int]:
        config = Config(PtdConfig(port=port, interval_ms=10),
                        SessionConfig(settle_s=0.0, poll_interval_s=0.1))
        session = Session(config, PtdAnalyzer("127.0.0.1", port), IdleWorkload(), out_root=tmp_path,
                          label="multi", say=lambda _: None)
        await session.run()
        taken = int(sim.handle("Watts").split(",")[4])
        return session, taken

    session, taken = with_simulator(body, interval_ms=0.5, channels=4)
    spl = (session.dir / "run_1" / "spl.txt").read_text().splitlines()
    assert len(spl) == taken >= 500
    sample, mark = parse_sample_line(spl[0])
    meta = session.meta.to_json()  # what session.json holds
    assert mark == meta["phases"]["testing"]["mark"] and len(sample.channels) == 4
    raw = samples_path(session.dir / "raw", session.analyzer.name).read_text().splitlines()
    assert len(raw) == meta["samples"][session.analyzer.name] == taken + len(
        (session.dir / "ranging" / "spl.txt").read_text().splitlines()
    )
    assert read_spl(session.dir / "run_1" / "spl.txt").watts.mean() == pytest.approx(240.0)
    # Ranging chose the testing ranges from the channels (230 V; 60 W / 230 V each ×1.1).
    assert meta["ranges"]["testing"] == {"volts": 300.0, "amps": 0.5}
    # RL,*,* polls (and the probe after Identify) stay out of server.json: the checker reads RR third.
    server = json.loads((session.dir / "power" / "server.json").read_text())
    assert [m["cmd"] for m in server["ptd_messages"][:3]] == ["Hello", "Identify", "RR"]
    assert not [m for m in server["ptd_messages"] if m["cmd"].startswith("RL")]


@pytest.mark.parametrize(
    ("option", "value"), [("--interval-ms", "0"), ("--interval-ms", "x"), ("--channels", "65")]
)
def test_bad_simulator_options_are_one_error_line(option: str, value: str) -> None:
    result = run_cli("sim", "ptd", option, value, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"power-director sim ptd: error: argument {option}")
