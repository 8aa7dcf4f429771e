"""The Yokogawa WT300E driver over pyvisa-py against the loopback SCPI simulator and pyvisa-sim."""

from __future__ import annotations

import asyncio
import math
import socket
from typing import TypeVar

import pytest

from analyzer_drivers.base import AnalyzerError, Ranges
from analyzer_drivers.formats.sample import ERROR_READING
from analyzer_drivers.meters.specs import METERS, advise_ranges
from analyzer_drivers.meters.yokogawa import YokogawaAnalyzer, parse_values
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from analyzer_drivers.sim.scpi_server import Wt300Simulator, match_header
from tests.conftest import WT300_YAML, socket_resource, with_meter

T = TypeVar("T")


async def scpi(port: int, *lines: str, silent: tuple[str, ...] = ()) -> list[str]:
    """Send raw lines; the replies of the queries (except those expected ``silent``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for line in lines:
        writer.write(line.encode() + b"\n")
        if line.split(" ")[0].endswith("?") and line not in silent:
            replies.append((await asyncio.wait_for(reader.readline(), 2)).decode().strip())
    writer.close()
    return replies


def test_identify_and_setup_against_the_pyvisa_sim_yaml() -> None:
    async def main() -> tuple[str, int, Ranges, Ranges, Ranges]:
        meter = YokogawaAnalyzer(socket_resource(5025), visa_library=f"{WT300_YAML}@sim")
        async with meter:
            info = await meter.identify()
            initial = await meter.get_ranges()
            await meter.set_ranges(Ranges(volts=240.0, amps=0.7))
            fixed = await meter.get_ranges()
            await meter.set_ranges(Ranges.auto())
            return info.model, info.averaging_ms, initial, fixed, await meter.get_ranges()

    model, averaging_ms, initial, fixed, auto = asyncio.run(main())
    assert (model, averaging_ms) == ("WT310", 500)
    assert initial == Ranges(volts=300.0, amps=2.0)
    assert fixed == Ranges(volts=300.0, amps=1.0)  # snapped up to real ranges
    assert auto == Ranges.auto()


def test_short_and_long_forms_case_and_the_error_queue() -> None:
    async def body(sim: Wt300Simulator, port: int) -> list[str]:
        await asyncio.sleep(0.6)  # one update, so there is data
        return await scpi(
            port,
            ":COMM:HEAD OFF",
            ":NUM:NORM:ITEM1 P,1",
            ":NUM:NORM:VAL? 1",
            ":numeric:normal:value? 1",
            ":Input:Voltage:Range 150V",
            ":INPUT:VOLTAGE:RANGE?",
            ":INP:VOLT:AUTO?",
            ":FROB:NICATE?",
            ":STAT:ERR?",
            ":STAT:ERR?",
            silent=(":FROB:NICATE?",),
        )

    replies = with_meter(body)
    assert replies[:2] == ["1.5000E+02", "1.5000E+02"]
    assert replies[2:4] == ["150.0E+00", "0"]  # a range as a real WT300 writes it (see test_wt300_family)
    assert replies[4:] == ['-113,"Undefined header"', '0,"No error"']  # no reply to the bad query
    assert match_header(":STATus:FILTer#", ":stat:filter3") == 3
    assert match_header(":NUMeric:NORMal:VALue", ":NUMER:NORM:VAL") is None  # neither form


def test_a_measurement_reads_fresh_values_and_restores_the_settings() -> None:
    async def body(sim: Wt300Simulator, port: int) -> tuple[list[float], list[int], float | None, int]:
        async with YokogawaAnalyzer(socket_resource(port)) as meter:
            assert sim.remote and not sim.header
            await meter.set_ranges(Ranges(volts=300.0, amps=1.0))
            updates_before = sim.updates
            await meter.start("m", 100)
            await asyncio.sleep(0.75)
            await meter.stop()
            samples = await meter.poll()
            updates = sim.updates - updates_before
            uncertainty = await meter.uncertainty()
            await meter.set_ranges(Ranges.auto())
        assert (sim.update_interval_s, sim.numeric.count, sim.remote) == (0.5, 6, False)
        return [s.watts for s in samples], [s.t_ns for s in samples], uncertainty, updates

    watts, stamps, uncertainty, updates = with_meter(body)
    assert 5 <= len(watts) <= updates  # one sample per data update, never a stale repeat
    assert all(w == pytest.approx(150.0, rel=1e-4) for w in watts)
    assert stamps == sorted(stamps)
    mean_step_ms = (stamps[-1] - stamps[0]) / (len(stamps) - 1) / 1e6
    assert 80 <= mean_step_ms <= 160  # the 100 ms update interval set by :RATE
    # The original WT310 (IM WT310-02EN §7.3): (0.1 % × 150 W + 0.1 % × 300 V × 1 A) / 150 W
    assert uncertainty == pytest.approx(0.003)


def test_over_range_becomes_the_error_sentinel() -> None:
    async def body(sim: Wt300Simulator, port: int) -> list[float]:
        async with YokogawaAnalyzer(socket_resource(port)) as meter:
            await meter.set_ranges(Ranges(volts=300.0, amps=0.2))  # 0.65 A > 140 % of 0.2 A
            await meter.start("m", 100)
            await asyncio.sleep(0.35)
            await meter.stop()
            return [s.watts for s in await meter.poll()]

    watts = with_meter(body)
    assert watts and all(w == ERROR_READING for w in watts)


def test_sum_of_three_elements() -> None:
    async def body(sim: Wt300Simulator, port: int) -> tuple[str, list[tuple[float, tuple[float, ...]]]]:
        async with YokogawaAnalyzer(socket_resource(port), element="sum") as meter:
            info = await meter.identify()
            await meter.start("m", 100)
            await asyncio.sleep(0.35)
            await meter.stop()
            return info.model, [(s.watts, tuple(c.watts for c in s.channels)) for s in await meter.poll()]

    model, samples = with_meter(body, watts=300.0, identity="wt333e")
    assert model == "WT333E"
    assert samples
    for watts, channels in samples:
        assert watts == pytest.approx(300.0, rel=1e-4)
        assert channels == pytest.approx((100.0, 100.0, 100.0), rel=1e-4)


def test_parse_values_maps_sentinels_and_rejects_garbage() -> None:
    values = parse_values("2.3000E+02,9.9E+37,9.91E+37,-9.9E+37")
    assert values[0] == 230.0 and values[1] == ERROR_READING and math.isnan(values[2])
    assert values[3] == ERROR_READING
    with pytest.raises(AnalyzerError, match="malformed numeric reply"):
        parse_values("2.3E+02,banana")


def test_uncertainty_and_range_advice() -> None:
    wt310 = METERS["WT310E"]  # ±(0.1 % of reading + 0.05 % of range): IM WT310E-02EN §7.3
    assert wt310.sample_uncertainty(150.0, 300.0, 1.0) == pytest.approx(0.002)
    assert wt310.sample_uncertainty(150.0, 300.0, 1.0, crest_factor=6) == pytest.approx(0.003)
    # Current ranges snap up from 1.1 × max amps; below 0.2 A the mA ranges serve.
    quiet = advise_ranges(wt310, max_volts=230.0, max_amps=0.15, min_watts=30.0)
    assert (quiet.volts_range, quiet.amps_range) == (300.0, 0.2)
    assert quiet.warning is None
    busy = advise_ranges(wt310, max_volts=230.0, max_amps=0.7, min_watts=10.0)
    assert (busy.volts_range, busy.amps_range) == (300.0, 1.0)
    assert busy.worst_uncertainty == pytest.approx((0.01 + 0.15) / 10)
    assert busy.warning is not None and "1.60 %" in busy.warning and "16.7 W" in busy.warning
    summed = advise_ranges(METERS["WT333E"], 230.0, 4.0, 300.0, elements=3)
    assert summed.worst_uncertainty == pytest.approx((0.3 + 3 * 0.0005 * 300 * 5) / 300)
    with pytest.raises(AnalyzerError, match="above the largest WT310E range"):
        advise_ranges(wt310, 230.0, 25.0, 100.0)


def test_bad_resources_and_wrong_devices_give_clear_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]

    async def main() -> None:
        with pytest.raises(AnalyzerError, match=r"Yokogawa at .*Connection refused"):
            await YokogawaAnalyzer(socket_resource(free_port)).connect()
        with pytest.raises(AnalyzerError, match="cannot open Yokogawa at NOT::A::RESOURCE"):
            await YokogawaAnalyzer("NOT::A::RESOURCE").connect()
        ptd = PtdSimulator(model=constant_model(100.0))
        port = await ptd.start_server()
        try:
            with pytest.raises(AnalyzerError, match="is not a Yokogawa meter"):
                await YokogawaAnalyzer(socket_resource(port), timeout_s=1).connect()
        finally:
            await ptd.close()

    asyncio.run(main())


def test_bad_interval_element_and_a_dead_meter() -> None:
    async def body(sim: Wt300Simulator, port: int) -> None:
        with pytest.raises(AnalyzerError, match=r"the WT310 has element\(s\) 1, not '2'"):
            await YokogawaAnalyzer(socket_resource(port), element="2").connect()
        async with YokogawaAnalyzer(socket_resource(port), timeout_s=1) as meter:
            with pytest.raises(AnalyzerError, match=r"updates every 0\.1, 0\.25.*not every 0\.2 s"):
                await meter.start("m", 200)
            await meter.start("m", 100)
            await asyncio.sleep(0.25)
            await sim.close()  # the meter dies mid-run
            with pytest.raises(AnalyzerError, match="Yokogawa at TCPIP"):
                for _ in range(100):
                    await meter.poll()
                    await asyncio.sleep(0.1)

    with_meter(body)
