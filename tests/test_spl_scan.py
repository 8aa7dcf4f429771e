"""The vectorised spl.txt reader gives exactly what the per-line definition gives, on any input."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reports.spl as spl
from analyzer_drivers.formats.errors import AnalyzerError
from analyzer_drivers.formats.ptd_line import parse_line, parse_sample_line
from reports.spl import PowerSeries, parse_spl_text, read_spl

EPOCH = dt.datetime(1970, 1, 1)


def reference(text: str, begin_ns: int | None = None, end_ns: int | None = None) -> list[tuple[object, ...]]:
    """``parse_line`` on every line, kept when stamped within the bounds. Text that is not UTF-8
    (a lone surrogate) is read as the file would hold it."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    rows = [parsed for line in text.split("\n") if (parsed := parse_line(line)) is not None]
    return [row for row in rows
            if (begin_ns is None or row[0] >= begin_ns) and (end_ns is None or row[0] <= end_ns)]


def rows_of(series: PowerSeries) -> list[tuple[object, ...]]:
    return list(zip(series.t_ns.tolist(), series.watts.tolist(), series.volts.tolist(),
                    series.amps.tolist(), series.pf.tolist(), series.marks.tolist(), strict=True))


def same(expected: list[tuple[object, ...]], got: list[tuple[object, ...]]) -> None:
    """Equal row by row, floats bit for bit (NaN equals NaN, -0.0 differs from 0.0)."""
    def key(value: object) -> object:
        return ("float", math.copysign(1, value), repr(value)) if isinstance(value, float) else value

    assert [tuple(map(key, row)) for row in got] == [tuple(map(key, row)) for row in expected]


stamps = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59))
six_decimals = st.floats(-9_999_999, 99_999_999, allow_nan=False).map(lambda v: f"{v:.6f}")
numbers = st.one_of(
    six_decimals, six_decimals, six_decimals,
    st.sampled_from(["-1.000000", "-2.000000", "nan", "-0.000000", "0.000000", "1e3", "", ".5", "-", "12",
                     "1.5", "00000123.000000", "+1.000000", "1_0.000000", " 1.000000"]),
    st.text(alphabet="0123456789.-,e ", max_size=18),
)
marks = st.one_of(st.sampled_from(["", "testing", "ranging", "power_director_testing"]),
                  st.text(alphabet=st.characters(blacklist_characters="\n\x00"), max_size=80))


@st.composite
def lines(draw: st.DrawFn) -> str:
    moment = draw(stamps)
    stamp = f"{moment:%m-%d-%Y %H:%M:%S}.{moment.microsecond // 1000:03d}"
    stamp = draw(st.sampled_from([stamp] * 6 + [stamp[:-1], stamp + "7", stamp.replace("-", "/"),
                                                "13-01-2026 00:00:00.000", "02-29-2023 00:00:00.000",
                                                "02-29-2024 23:59:60.000", "00-00-0000 00:00:00.000"]))
    fields = ["Time", stamp, "Watts", draw(numbers), "Volts", draw(numbers), "Amps", draw(numbers),
              "PF", draw(numbers)]
    mark = draw(marks)
    if mark or draw(st.booleans()):
        fields += ["Mark", mark]
    if draw(st.integers(0, 5)) == 0:
        fields += ["Ch1", "Watts", draw(numbers), "Volts", "-1", "Amps", "-1", "PF", "-1"]
    line = ",".join(fields)
    cut = draw(st.integers(0, 12))
    if cut == 0:
        line = line[: draw(st.integers(0, len(line)))]  # torn
    elif cut == 1:
        line = draw(st.sampled_from(["NOTICE: something", "", "Time", "Time,", "ERROR,Watts,1"]))
    elif cut == 2:
        line += "\r"
    return line


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), max_size=40))
def test_scanner_matches_the_per_line_definition(text_lines: list[str]) -> None:
    text = "\n".join(text_lines)
    same(reference(text), rows_of(parse_spl_text(text)))


@settings(max_examples=100, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=60), st.integers(0, 400), st.data())
def test_blocks_and_bounds_change_nothing(
    tmp_path_factory: pytest.TempPathFactory, text_lines: list[str], extra_bytes: int, data: st.DataObject
) -> None:
    text = "\n".join(text_lines) + data.draw(st.sampled_from(["", "\n"]))
    block_bytes = max(len(line.encode("utf-8", "replace")) for line in text_lines) + 1 + extra_bytes
    path = tmp_path_factory.mktemp("spl") / "spl.txt"
    path.write_bytes(text.encode("utf-8", "replace"))
    every_t_ns = [row[0] for row in reference(text)] or [0]
    begin_ns = data.draw(st.sampled_from(every_t_ns))
    end_ns = data.draw(st.sampled_from(every_t_ns))
    original = spl._BLOCK_BYTES
    spl._BLOCK_BYTES = block_bytes
    try:
        same(reference(text, begin_ns, end_ns), rows_of(read_spl(path, begin_ns, end_ns)))
        watts_only = read_spl(path, begin_ns, end_ns, watts_only=True)
    finally:
        spl._BLOCK_BYTES = original
    expected = reference(text, begin_ns, end_ns)
    same([row[:2] for row in expected], [row[:2] for row in rows_of(watts_only)])


def test_regular_values_equal_float_of_their_text() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(-1e4, 1e7, 20_000), rng.uniform(0, 2, 20_000)])
    texts = [f"{v:.6f}" for v in values]
    text = "".join(f"Time,11-23-2026 10:00:00.000,Watts,{t},Volts,{t},Amps,{t},PF,{t},Mark,m\n"
                   for t in texts)
    series = parse_spl_text(text)
    expected = np.array([float(t) for t in texts])
    for column in (series.watts, series.volts, series.amps, series.pf):
        assert column.tobytes() == expected.tobytes()


def test_stamps_match_strptime_across_dates() -> None:
    moments = [EPOCH + dt.timedelta(minutes=m, milliseconds=int(m * 7919) % 60_000)
               for m in range(-10_000_000, 70_000_000, 99_991)]
    text = "".join(f"Time,{m:%m-%d-%Y %H:%M:%S}.{m.microsecond // 1000:03d},Watts,1.000000,Volts,1.000000,"
                   "Amps,1.000000,PF,1.000000\n" for m in moments)
    expected = [(m - EPOCH) // dt.timedelta(milliseconds=1) * 1_000_000 for m in moments]
    assert parse_spl_text(text).t_ns.tolist() == expected


def test_a_line_longer_than_a_block_is_skipped(tmp_path: Path) -> None:
    good = "Time,11-23-2026 10:00:00.000,Watts,5.000000,Volts,1.000000,Amps,1.000000,PF,1.000000\n"
    path = tmp_path / "spl.txt"
    path.write_text(good + "Time," + "9" * 5000 + "\n" + good)
    original = spl._BLOCK_BYTES
    spl._BLOCK_BYTES = 1024
    try:
        assert read_spl(path).watts.tolist() == [5.0, 5.0]
    finally:
        spl._BLOCK_BYTES = original


def test_a_mark_label_guessed_past_the_line_end_is_no_mark() -> None:
    """Found by Hypothesis (tests/test_fuzz_parsers.py): on an irregular last line the PF end
    guessed by the scanner lay past the line's end, and the mark's width came out negative."""
    text = ("Time,11-22-2026 12:18:57.073,000\x80\U00010000,0\x80\x80\U00010000\U00010000,000\x80\x80"
            "\U00010000,1,Watts\n00\x80\x80\U00010000\nTime,,\x80,0\x80,-1,-1,nan,1e400,Mark,")
    series = parse_spl_text(text)
    expected = [parsed for line in text.split("\n") if (parsed := parse_line(line)) is not None]
    assert series.t_ns.tolist() == [row[0] for row in expected]
    assert series.volts.tolist() == [row[2] for row in expected]


@settings(max_examples=300, deadline=None)
@given(lines())
# found by hypothesis: str.strip() took the form feed off the strict reader's mark only
@example("Time,01-01-2000 00:00:00.000,Watts,0.000000,Volts,0.000000,Amps,0.000000,PF,0.000000,Mark,\x0c\r")
def test_the_strict_and_the_lenient_reader_agree_on_every_line_the_strict_one_takes(line: str) -> None:
    """``parse_sample_line`` (a meter's reply) and ``parse_line`` (a file) read one definition of
    the line: where the strict reader takes a line, the lenient one gives the same stamp, values
    and mark, bit for bit."""
    try:
        sample, mark = parse_sample_line(line)
    except AnalyzerError:
        return
    if not -(2**63) <= sample.t_ns < 2**63:
        return  # after 2262: a file's stamps are int64 ns (the lenient reader skips the line)
    same([(sample.t_ns, sample.watts, sample.volts, sample.amps, sample.pf, mark or "")],
         [parse_line(line)] if parse_line(line) is not None else [])
