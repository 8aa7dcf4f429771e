"""The fast scanner: vectorised parsing of PTDaemon sample lines held in bytes.

Regular lines — ``Time,MM-DD-YYYY HH:MM:SS.fff,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m]…`` with
six-decimal values, as PTDaemon and our journal write them — are parsed eight bytes at a time
(unaligned 64-bit words, "SIMD within a register"). Any other line goes through ``ptd_line.parse_line``,
the per-line definition, so a value never depends on the path its line took. Both give exactly
what Python's ``float()`` and ``strptime`` give: a value of at most 15 digits is an integer below
2**53, and dividing it by 10**6 rounds once, correctly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from analyzer_drivers.formats.ptd_line import ParsedLine, parse_line
from analyzer_drivers.formats.timefmt import NS_PER_MS

Bytes = npt.NDArray[np.uint8]
Words = npt.NDArray[np.uint64]
Index = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

PAD_BYTES = 512  # after a block: every fixed-width view from a line (even a garbled one) stays inside
_NEWLINE, _RETURN, _COMMA, _DOT, _MINUS, _ZERO = 10, 13, 44, 46, 45, 48
_DECIMALS = 6
_MARK_WIDTH = 128  # longer marks (and what follows them) go to parse_line
_HEAD_BYTES = 35  # "Time,MM-DD-YYYY HH:MM:SS.fff,Watts," then the watts value
_HEAD_ROW_BYTES = 64  # a line's head and watts; gathering 64 bytes costs what gathering 8 does


def _u64(value: int) -> np.uint64:
    return np.uint64(value & 0xFFFF_FFFF_FFFF_FFFF)  # type: ignore[no-any-return]


def _repeat(byte: int) -> np.uint64:
    return _u64(int.from_bytes(bytes([byte]) * 8, "little"))


_ONES, _HIGHS, _ZEROS, _SIXES = _repeat(0x01), _repeat(0x80), _repeat(_ZERO), _repeat(0x06)
_ALL = _u64(-1)
_BYTE_INDEX = _u64(0x0001_0203_0405_0607)  # (1 << 8k) * this has k in its top byte


@dataclass(frozen=True)
class _Template:
    """An 8-byte pattern: literal bytes, 'd' for a digit, '?' for anything."""

    literal_mask: np.uint64
    literal: np.uint64
    digit_high: np.uint64  # 0xF0 at each digit byte
    digit_zero: np.uint64  # 0x30 at each digit byte
    digit_six: np.uint64  # 0x06 at each digit byte

    @classmethod
    def of(cls, pattern: str) -> _Template:
        def word(literal: Callable[[str], int], digit: int) -> np.uint64:
            data = bytes(digit if c == "d" else 0 if c == "?" else literal(c) for c in pattern)
            return _u64(int.from_bytes(data, "little"))

        def nothing(_: str) -> int:
            return 0

        return cls(word(lambda _: 0xFF, 0), word(ord, 0), word(nothing, 0xF0), word(nothing, _ZERO),
                   word(nothing, 0x06))

    def matches(self, words: Words) -> Mask:
        ok = (words & self.literal_mask) == self.literal
        ok &= (words & self.digit_high) == self.digit_zero
        ok &= ((words + self.digit_six) & self.digit_high) == self.digit_zero
        return cast(Mask, ok)


# A regular line's head, as the words at its bytes 0, 8, 16, 24 and 32:
# "Time,MM-" "DD-YYYY " "hh:mm:ss" ".fff,Wat" "ts," then the watts. The first three hold the
# minute, checked only where it changes from the line before.
_MINUTE_WORDS = [_Template.of("Time,dd-"), _Template.of("dd-dddd "), _Template.of("dd:dd???")]
_SECOND_WORDS = [_Template.of("?????:dd"), _Template.of(".ddd,Wat"), _Template.of("ts,?????")]
_DIGITS8 = _Template.of("dddddddd")
_HOUR_MINUTE_MASK = _u64(0x0000_00FF_FFFF_FFFF)  # "hh:mm" of line bytes 16-23
# Epoch ns must fit in int64: 1677-09-21 to 2262-04-11.
_MIN_YEAR, _MAX_YEAR = 1677, 2262
_DAYS_BEFORE_MONTH = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def word_view(buf: Bytes) -> Words:
    """The little-endian 64-bit word starting at every byte of ``buf``."""
    return cast(Words, np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,)))


def _byte(words: Words, index: int) -> Words:
    return (words >> _u64(8 * index)) & _u64(0xFF)


def _digit(words: Words, index: int) -> Words:
    return _byte(words, index) - _u64(_ZERO)


def _first_byte_equal(words: Words, byte: int) -> Index:
    """Index of the first byte equal to ``byte`` in each word, 8 where there is none."""
    x = words ^ _repeat(byte)
    found = (x - _ONES) & ~x & _HIGHS  # exact at the lowest match
    lowest = (found & (~found + _ONES)) >> _u64(7)  # 1 << 8k for a first match at byte k
    index = ((lowest * _BYTE_INDEX) >> _u64(56)).astype(np.int64)
    return np.where(found == 0, 8, index)


def _digits8(words: Words) -> Words:
    """The value of eight ASCII digits, most significant in the lowest byte."""
    v: Any = words - _ZEROS
    v = (v * _u64(10) + (v >> _u64(8))) & _u64(0x00FF_00FF_00FF_00FF)
    v = (v * _u64(100) + (v >> _u64(16))) & _u64(0x0000_FFFF_0000_FFFF)
    return cast(Words, (v * _u64(10_000) + (v >> _u64(32))) & _u64(0xFFFF_FFFF))


def head_words(buf: Bytes, starts: Index) -> Words:
    """The words at bytes 0, 8, …, 56 of each line, as 8 rows (one gather for them all: gathering
    64 bytes costs what gathering 8 does)."""
    count = len(buf) - _HEAD_ROW_BYTES + 1
    rows = np.ndarray((count,), dtype=f"V{_HEAD_ROW_BYTES}", buffer=buf, strides=(1,))
    heads = rows[starts].view("<u8").reshape(len(starts), _HEAD_ROW_BYTES // 8)
    return np.ascontiguousarray(heads.T)


def stamps(buf: Bytes, lines: Lines) -> tuple[Lines, Words, npt.NDArray[np.int64], Mask]:
    """The sample lines among ``lines`` (those beginning ``Time,``), their head words, the epoch
    ns of their stamps and whether each has the regular head and a valid stamp."""
    heads = head_words(buf, lines.starts)
    sample = (heads[0] & _u64(0xFF_FFFF_FFFF)) == _u64(int.from_bytes(b"Time,", "little"))
    if not sample.all():
        lines, heads = lines.take(sample), heads[:, sample]
    starts = lines.starts
    minute_words = [heads[0], heads[1], heads[2] & _HOUR_MINUTE_MASK]
    changed = np.ones(len(starts), dtype=bool)
    changed[1:] = np.logical_or.reduce([word[1:] != word[:-1] for word in minute_words])
    minute_ms, minute_ok = _minute_ms(heads[:3, changed])
    minute_of_row = np.cumsum(changed) - 1
    ok = minute_ok[minute_of_row]
    for word, template in zip(heads[2:5], _SECOND_WORDS, strict=True):
        ok &= template.matches(word)
    seconds = _digit(heads[2], 6) * _u64(10) + _digit(heads[2], 7)
    ms = _digit(heads[3], 1) * _u64(100) + _digit(heads[3], 2) * _u64(10) + _digit(heads[3], 3)
    ok &= seconds < _u64(60)
    t_ms = minute_ms[minute_of_row] + (seconds * _u64(1000) + ms).astype(np.int64)
    return lines, heads, t_ms * NS_PER_MS, ok


def _minute_ms(words: Words) -> tuple[npt.NDArray[np.int64], Mask]:
    """Epoch ms of the minute in each head's first three words, and whether it is valid."""
    ok = np.logical_and.reduce(
        [template.matches(word) for word, template in zip(words, _MINUTE_WORDS, strict=True)])

    def number(word: Words, first: int, count: int) -> npt.NDArray[np.int64]:
        value = np.zeros(len(word), dtype=np.int64)
        for i in range(first, first + count):
            value = value * 10 + _digit(word, i).astype(np.int64)
        return value

    month, day, year = number(words[0], 5, 2), number(words[1], 0, 2), number(words[1], 3, 4)
    hour, minute = number(words[2], 0, 2), number(words[2], 3, 2)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    month = np.where(month_ok, month, 1)
    month_days = _MONTH_DAYS[month] + ((month == 2) & leap)
    ok &= month_ok & (day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60)
    ok &= (year > _MIN_YEAR) & (year < _MAX_YEAR)  # parse_line decides the years at the edges
    before = year - 1
    days = (before * 365 + before // 4 - before // 100 + before // 400
            + _DAYS_BEFORE_MONTH[month] + ((month > 2) & leap) + day - 1 - 719_162)  # to 1970-01-01
    return (days * 1440 + hour * 60 + minute) * 60_000, ok


def watts_words(heads: Words) -> tuple[Words, Words]:
    """Bytes 35-42 and 43-50 of each line: the watts value's first 16 bytes."""
    def at(byte: int) -> Words:
        word, shift = divmod(byte, 8)
        return cast(Words, (heads[word] >> _u64(8 * shift)) | (heads[word + 1] << _u64(64 - 8 * shift)))

    return at(_HEAD_BYTES), at(_HEAD_BYTES + 8)


def numbers(head: Words, tail: Words) -> tuple[Floats, Index, Mask]:
    """Six-decimal numbers of up to 7 integer digits, from their bytes 0-7 and 8-15: (values,
    their lengths, whether each is regular and followed by a comma or a newline)."""
    point = _first_byte_equal(head, _DOT)
    negative = _byte(head, 0) == _u64(_MINUS)
    ok = (point >= 1 + negative) & (point < 8)
    bytes_before = np.where(ok, point, 1).astype(np.uint64) - _u64(1)  # before the last integer digit
    eight = _u64(8)
    # Shifts of 64 bits or more are undefined, hence the two-step shifts.
    last_digits = (head >> (eight * bytes_before)) | ((tail << eight) << (eight * (_u64(7) - bytes_before)))
    after = _byte(tail >> (eight * bytes_before), 0)
    ok &= (after == _u64(_COMMA)) | (after == _u64(_NEWLINE))
    decimals = (last_digits & ~_u64(0xFFFF)) | (_ZEROS & _u64(0xFFFF))
    ok &= _DIGITS8.matches(decimals) & (_digit(last_digits, 0) < _u64(10))
    # The integer digits before the last, right-aligned; the bytes left of them (and a minus
    # sign) become '0'.
    keep = (_ALL << eight) << (eight * (_u64(7) - bytes_before + negative.astype(np.uint64)))
    leading = (((head << eight) << (eight * (_u64(7) - bytes_before))) & keep) | (_ZEROS & ~keep)
    ok &= _DIGITS8.matches(leading)
    integer = _digits8(leading) * _u64(10) + _digit(last_digits, 0)
    mantissa = integer * _u64(10**_DECIMALS) + _digits8(decimals)
    values = mantissa.astype(np.float64) / 10.0**_DECIMALS
    return np.where(negative, -values, values), point + 1 + _DECIMALS, ok


def _number_at(words: Words, at: Index) -> tuple[Floats, Index, Mask]:
    values, length, ok = numbers(words[at], words[at + 8])
    return values, at + length, ok


def _labelled(words: Words, at: Index, label: bytes) -> Mask:
    mask = _u64((1 << (8 * len(label))) - 1)
    return cast(Mask, (words[at] & mask) == _u64(int.from_bytes(label, "little")))


def _marks(
    buf: Bytes, words: Words, pf_ends: Index, line_ends: Index
) -> tuple[npt.NDArray[np.object_], Mask]:
    """The mark after each PF value ("" when the line ends there), and whether it is regular."""
    starts = pf_ends + 6
    # On an irregular line the PF end is a guess that can lie past the line's end: no mark then.
    has_mark = _labelled(words, pf_ends, b",Mark,") & (starts <= line_ends)
    rest_bytes = np.where(has_mark, line_ends - starts, 0)  # the mark and anything after it
    ok = (pf_ends == line_ends) | (has_mark & (rest_bytes <= _MARK_WIDTH))
    # Channel groups after the mark: keep the mark and its comma.
    long_rows = np.flatnonzero(has_mark & ~ok)
    if len(long_rows):
        rows = np.ndarray((len(buf) - _MARK_WIDTH + 1,), dtype=f"V{_MARK_WIDTH}", buffer=buf, strides=(1,))
        commas = rows[starts[long_rows]].view(np.uint8).reshape(len(long_rows), _MARK_WIDTH) == _COMMA
        rest_bytes[long_rows] = commas.argmax(axis=1) + 1
        ok[long_rows] = commas.any(axis=1)
    rest_bytes = np.where(ok, rest_bytes, 0)
    rests = _masked_words(buf, starts, rest_bytes)
    # A line's mark is worked out where its bytes differ from the line before's.
    changed = np.ones(len(starts), dtype=bool)
    changed[1:] = (rest_bytes[1:] != rest_bytes[:-1]) | (rests[1:] != rests[:-1]).any(axis=1)
    distinct = [_mark_text(buf[start : start + size].tobytes())
                for start, size in zip(starts[changed].tolist(), rest_bytes[changed].tolist(), strict=True)]
    return np.array(distinct or [""], dtype=object)[np.cumsum(changed) - 1], ok


def _masked_words(buf: Bytes, starts: Index, sizes: Index) -> Words:
    """``buf[start : start + size]`` of each row as words, zero after ``size``."""
    word_count = int(sizes.max() + 7) // 8 if len(sizes) else 0
    if word_count == 0:
        return np.zeros((len(starts), 0), dtype=np.uint64)
    width = 8 * word_count
    rows = np.ndarray((len(buf) - width + 1,), dtype=f"V{width}", buffer=buf, strides=(1,))
    words = rows[starts].view("<u8").reshape(len(starts), word_count)
    bits = np.clip(sizes[:, None] - 8 * np.arange(word_count), 0, 8).astype(np.uint64) * _u64(8)
    keep = np.where(bits == 0, _u64(0), _ALL >> (_u64(64) - np.maximum(bits, _u64(8))))
    return cast(Words, words & keep)


def _mark_text(rest: bytes) -> str:
    """The mark field of a line's bytes after ``Mark,``, as ``parse_line`` reads it."""
    return rest.rstrip(b"\r").split(b",", 1)[0].decode("utf-8", "replace")


def values(buf: Bytes, lines: Lines, watts_start: tuple[Words, ...]) -> tuple[list[npt.NDArray[Any]], Mask]:
    """Watts, volts, amps, PF and mark of ``lines``, whose watts begin with ``watts_start``, and
    which lines were regular."""
    starts = lines.starts
    watts, watts_length, ok = numbers(*watts_start)
    words = word_view(buf)
    end = starts + _HEAD_BYTES + watts_length
    ok &= _labelled(words, end, b",Volts,")
    volts, end, volts_ok = _number_at(words, end + 7)
    ok &= volts_ok & _labelled(words, end, b",Amps,")
    amps, end, amps_ok = _number_at(words, end + 6)
    ok &= amps_ok & _labelled(words, end, b",PF,")
    pf, end, pf_ok = _number_at(words, end + 4)
    marks, marks_ok = _marks(buf, words, end, lines.ends)
    return [watts, volts, amps, pf, marks], ok & pf_ok & marks_ok


@dataclass(frozen=True)
class Lines:
    """Where lines start, and where their newlines are."""

    starts: Index
    ends: Index

    @classmethod
    def of(cls, buf: Bytes, size: int) -> Lines:
        """The lines of ``buf[:size]``, which ends with a newline."""
        ends = np.flatnonzero(buf[:size] == _NEWLINE)
        return cls(np.concatenate(([0], ends[:-1] + 1)).astype(np.int64), ends)

    def take(self, index: npt.NDArray[Any]) -> Lines:
        return Lines(self.starts[index], self.ends[index])


def _parsed(buf: Bytes, lines: Lines, row: int) -> ParsedLine | None:
    """``parse_line`` of one line."""
    text = buf[lines.starts[row] : lines.ends[row]].tobytes().decode("utf-8", "replace")
    return parse_line(text)


def scan_block(
    buf: Bytes, size: int, begin_ns: int | None, end_ns: int | None
) -> tuple[npt.NDArray[Any], ...]:
    """The samples of ``buf[:size]`` (whole lines, then ``PAD_BYTES`` of anything) stamped
    within ``[begin_ns, end_ns]``, as columns in ``PowerSeries`` order: t_ns, watts, volts,
    amps, PF, marks. Only those lines' values are parsed."""
    lines, heads, t_ns, regular = stamps(buf, Lines.of(buf, size))
    rows, slow = _wanted_rows(buf, lines, t_ns, regular, begin_ns, end_ns)
    columns, regular_values = values(buf, lines.take(rows), tuple(word[rows] for word in watts_words(heads)))
    _parse_irregular(buf, lines, rows, ~(regular_values & regular[rows]), slow, columns)
    return (t_ns[rows], *columns)


def scan_block_watts(buf: Bytes, size: int, begin_ns: int | None, end_ns: int | None) -> tuple[Index, Floats]:
    """``t_ns`` and watts of the samples ``scan_block`` would give, parsing nothing else."""
    lines, heads, t_ns, regular = stamps(buf, Lines.of(buf, size))
    rows, slow = _wanted_rows(buf, lines, t_ns, regular, begin_ns, end_ns)
    watts, _, regular_watts = numbers(*(word[rows] for word in watts_words(heads)))
    _parse_irregular(buf, lines, rows, ~(regular_watts & regular[rows]), slow, [watts])
    return t_ns[rows], watts


def _wanted_rows(
    buf: Bytes, lines: Lines, t_ns: Index, regular: Mask, begin_ns: int | None, end_ns: int | None
) -> tuple[Index, dict[int, ParsedLine | None]]:
    """Rows stamped within the bounds, with ``parse_line``'s stamps for irregular lines (which
    ``t_ns`` takes); and those lines parsed."""
    slow = {int(i): _parsed(buf, lines, int(i)) for i in np.flatnonzero(~regular)}
    wanted = np.ones(len(t_ns), dtype=bool) if slow else regular
    for i, parsed in slow.items():
        wanted[i] = parsed is not None
        t_ns[i] = parsed[0] if parsed is not None else 0
    if begin_ns is not None:
        wanted = wanted & (t_ns >= begin_ns)
    if end_ns is not None:
        wanted = wanted & (t_ns <= end_ns)
    return np.flatnonzero(wanted), slow


def _parse_irregular(
    buf: Bytes, lines: Lines, rows: Index, irregular: Mask, slow: dict[int, ParsedLine | None],
    columns: list[npt.NDArray[Any]],
) -> None:
    """Overwrite the values of irregular rows with ``parse_line``'s, column by column."""
    for j in np.flatnonzero(irregular):
        i = int(rows[j])
        parsed = slow[i] if i in slow else _parsed(buf, lines, i)
        assert parsed is not None  # lines with unreadable stamps are never wanted
        for column, value in zip(columns, parsed[1:], strict=False):
            column[j] = value
