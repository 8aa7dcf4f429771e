"""Hostile input: every parser raises only its documented error type, and memory stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.ptd_line import parse_sample_line
from analyzer_drivers.meters.ptd import MAX_REPLY_BYTES, PtdAnalyzer, parse_identify, parse_ranges
from loadgen_bridge.detail_log import LoadgenLogError, parse_detail_log, read_mllog
from loadgen_bridge.remote.wire import WireError, decode_message
from power_director.config.loader import ConfigError, config_from_dict
from reports.spl import SplError, parse_spl_text

SOCKET_READ_BYTES = 256 * 1024  # asyncio's selector transport reads at most this much at once
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NUMBERS = st.sampled_from(["1", "-1", "-2", "nan", "inf", "1e400", "0x10", "²", "١", "", " 3 ", "9.91E+37"])
STAMPS = st.sampled_from(
    ["11-22-2026 12:18:57.073", "13-45-2026 99:99:99.999", "", "x", "02-30-2026 00:00:00.000"]
)
FIELDS = st.one_of(st.text(max_size=12), NUMBERS, STAMPS,
                   st.sampled_from(["Time", "Watts", "Volts", "Amps", "PF", "Mark", "Ch1", "Ch2", "Ranges"]))
CSV_LINES = st.lists(FIELDS, max_size=24).map(",".join)


@FUZZ
@given(st.one_of(st.text(), CSV_LINES))
def test_sample_line(line: str) -> None:
    with contextlib.suppress(AnalyzerError):
        parse_sample_line(line)


@FUZZ
@given(st.one_of(st.text(), CSV_LINES))
def test_identify_and_ranges(reply: str) -> None:
    for parse in (parse_identify, parse_ranges):
        with contextlib.suppress(AnalyzerError):
            parse(reply)


@FUZZ
@given(st.lists(st.one_of(st.text(), CSV_LINES.map(lambda s: "Time," + s)), max_size=30).map("\n".join))
def test_spl_text(text: str) -> None:
    try:
        series = parse_spl_text(text)
    except SplError:
        return
    assert len(series.watts) == len(series.t_ns) == len(series.marks)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30), STAMPS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
MLLOG_KEYS = st.sampled_from(["power_begin", "power_end", "effective_scenario", "result_query_count",
                              "effective_samples_per_query", "effective_min_duration_ms",
                              "result_samples_per_second", "result_validity", "other"])
MLLOG_LINES = st.one_of(
    st.builds(lambda k, v: ":::MLLOG " + json.dumps({"key": k, "value": v}), MLLOG_KEYS, JSON_VALUES),
    st.text(max_size=40).map(lambda s: ":::MLLOG " + s),
    st.text(max_size=40),
)


@FUZZ
@given(st.lists(MLLOG_LINES, max_size=12))
def test_detail_log(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    for parse in (read_mllog, parse_detail_log):
        with contextlib.suppress(LoadgenLogError):
            parse(path)


@FUZZ
@given(st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_wire_message(line: bytes) -> None:
    with contextlib.suppress(WireError):
        assert isinstance(decode_message(line)["type"], str)


def test_wire_message_nested_too_deep() -> None:
    with pytest.raises(WireError):
        decode_message(b"[" * 100_000 + b"]" * 100_000)


SECTION_KEYS = st.sampled_from(["type", "host", "port", "interval_ms", "connect_timeout_s", "label",
                                "settle_s", "poll_interval_s", "reconnect_timeout_s", "token_file",
                                "v3_allowed_addresses", "resource", "element", "crest_factor", "bogus"])
CONFIG_VALUES = st.one_of(
    st.integers(min_value=-2**70, max_value=2**70), st.floats(), st.booleans(),
    st.text(alphabet=string.printable, max_size=20), st.lists(st.text(max_size=8), max_size=2),
    st.sampled_from(["ptd", "yokogawa", "tasmota", "rapl", "0.0.0.0", "::1", "TCPIP::x::INSTR"]),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["analyzer", "session", "service", "nonsense"]),
                       st.one_of(st.dictionaries(SECTION_KEYS, CONFIG_VALUES, max_size=5), CONFIG_VALUES),
                       max_size=3))
def test_config(data: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        config_from_dict(data)


async def _endless_line_server() -> tuple[asyncio.Server, int]:
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(64):  # 4 MiB, never a newline
                writer.write(b"x" * 65536)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(flood, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_line_without_newline_stays_bounded() -> None:
    async def scenario() -> None:
        server, port = await _endless_line_server()
        meter = PtdAnalyzer("127.0.0.1", port, connect_timeout_s=2, reply_timeout_s=2)
        try:
            with pytest.raises(AnalyzerError, match=f"over {MAX_REPLY_BYTES} bytes"):
                await meter.connect()
            assert meter._reader is not None
            # StreamReader pauses reading past twice its limit (plus the last socket read, up to
            # 256 KiB): of the 4 MiB sent, the rest stays in the kernel.
            assert len(meter._reader._buffer) <= 2 * MAX_REPLY_BYTES + SOCKET_READ_BYTES  # type: ignore[attr-defined]
        finally:
            await meter.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
