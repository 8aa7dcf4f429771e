"""PTDaemon's sample line: ``Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,Ch1,...]``.

One format serves the ``RL`` reply, PTDaemon's ``-l`` log and MLPerf's ``spl.txt``. A
multichannel line carries the sum first (Volts/Amps/PF -1 from PTDaemon 1.9, their means
from 1.10; we write -1 for Volts/Amps and the meter's λΣ as PF: docs/uncertainty.md) and then
one group per channel. In the log and ``spl.txt`` each group is
``Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf``; in a real ``RL,*,*`` reply the groups are bare
``Watts,w,Volts,v,Amps,a,PF,pf`` (power-dev's ``lib/server.py`` inserts ``Mark`` and
``Ch<n>`` itself when it writes the log; see the v4.1 fixture's ``server.log``). Parsing
takes either form; writing gives the ``Ch<n>`` form, or the bare one with ``bare=True``.

Lines come by the tens of thousands a second from a fast meter, so the batch functions
(``format_sample_lines``, ``parse_sample_lines``) work column-wise; the one-line functions
are the reference they must agree with. A meter's reply is read strictly
(``parse_sample_line``: anything malformed is an error); a file as MLCommons' checker reads
it (``parse_line``: an unreadable value is NaN, a line that is no sample is skipped). Both cut
the line with ``cut_line``, the one definition of where its fields are, and ``ptd_scan`` is
the fast scanner held bit-equal to ``parse_line``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer_drivers.formats.errors import AnalyzerError
from analyzer_drivers.formats.sample import Channel, Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS, NS_PER_S, format_mlperf_time, parse_mlperf_time

# The line, field by field: Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,<channel groups>]
TIME_FIELD, STAMP_FIELD = 0, 1
_CHANNEL_FIELDS = ("Watts", "Volts", "Amps", "PF")  # each name at VALUE_FIELDS[k] - 1
VALUE_FIELDS = (3, 5, 7, 9)
MARK_NAME_FIELD, MARK_FIELD = 10, 11
_SUM_FIELDS = 10  # Time,t,Watts,w,Volts,v,Amps,a,PF,pf
_GROUP_FIELDS = 9  # Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf
_BARE_GROUP_FIELDS = 8  # Watts,w,Volts,v,Amps,a,PF,pf (an RL,*,* reply)
_MIN_T_NS, _MAX_T_NS = -(2**63), 2**63 - 1  # what an int64 stamp holds


@dataclass(frozen=True, slots=True)
class LineFields:
    """A line's fields where the format puts them, still text; what a line lacks is None."""

    head: str  # "Time" on a sample line
    stamp: str | None
    names: tuple[str | None, ...]  # "Watts", "Volts", "Amps", "PF" on a sample line
    values: tuple[str | None, ...]
    mark: str | None  # the field after "Mark", when the sum is followed by one
    channels: list[str]  # what follows the sum and the mark: the channel groups

    @property
    def is_sample(self) -> bool:
        """The whole sum there with its labels in place (its values may still be unreadable)."""
        return self.head == "Time" and self.names == _CHANNEL_FIELDS and None not in self.values


def cut_line(fields: list[str]) -> LineFields:
    """The one definition of a sample line's layout, for the strict and the lenient reader."""

    def at(index: int) -> str | None:
        return fields[index] if index < len(fields) else None

    marked = at(MARK_NAME_FIELD) == "Mark" and len(fields) > MARK_FIELD
    return LineFields(
        fields[TIME_FIELD], at(STAMP_FIELD), tuple(at(i - 1) for i in VALUE_FIELDS),
        tuple(at(i) for i in VALUE_FIELDS), fields[MARK_FIELD] if marked else None,
        fields[MARK_FIELD + 1 :] if marked else fields[_SUM_FIELDS:],
    )


def _number(value: float) -> str:
    return f"{value:.6f}"  # NaN of either sign is "nan"


def _group(watts: float, volts: float, amps: float, pf: float) -> list[str]:
    return ["Watts", _number(watts), "Volts", _number(volts), "Amps", _number(amps), "PF", _number(pf)]


def _line(sample: Sample, stamp: str, mark: str | None, channels: bool, bare: bool = False) -> str:
    if not sample.channels:
        # The common case, written out as _group would: it runs once per sample of a fast meter.
        line = (f"Time,{stamp},Watts,{sample.watts:.6f},Volts,{sample.volts:.6f},"
                f"Amps,{sample.amps:.6f},PF,{sample.pf:.6f}")
        return line if mark is None else f"{line},Mark,{mark}"
    # The sum's Volts and Amps are -1 as PTDaemon 1.9 wrote them; its PF is the meter's λΣ when it
    # read one (PTDaemon 1.10+ writes the channels' mean there: docs/uncertainty.md), else -1.
    sum_pf = sample.pf if math.isfinite(sample.pf) and 0 < abs(sample.pf) <= 1 else -1.0
    parts = ["Time", stamp, *_group(sample.watts, -1.0, -1.0, sum_pf)]
    if mark is not None:
        parts += ["Mark", mark]
    if channels:
        for number, channel in enumerate(sample.channels, start=1):
            parts += [] if bare else [f"Ch{number}"]
            parts += _group(channel.watts, channel.volts, channel.amps, channel.pf)
    return ",".join(parts)


def format_sample_line(sample: Sample, mark: str | None = None) -> str:
    """The PTDaemon text of one sample (no line ending)."""
    return _line(sample, format_mlperf_time(sample.t_ns), mark, channels=True)


def format_sample_lines(
    samples: Sequence[Sample], mark: str | None = None, *, channels: bool = True, bare: bool = False
) -> list[str]:
    """``format_sample_line`` of each sample; each millisecond stamp is formatted once.

    ``channels=False`` leaves out the channel groups (the sum alone, as a plain ``RL``
    gets from a multichannel daemon); ``bare=True`` writes them without ``Ch<n>``, as a
    real ``RL,*,*`` reply does.
    """
    stamps: dict[int, str] = {}
    lines = []
    for sample in samples:
        t_ms = sample.t_ns // NS_PER_MS
        stamp = stamps.get(t_ms)
        if stamp is None:
            stamp = stamps[t_ms] = format_mlperf_time(sample.t_ns)
        lines.append(_line(sample, stamp, mark, channels, bare))
    return lines


def _channels(fields: list[str]) -> tuple[Channel, ...]:
    """``Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf`` groups, or bare ``Watts,…,PF,pf`` ones, in order."""
    width = _BARE_GROUP_FIELDS if fields[:1] == ["Watts"] else _GROUP_FIELDS
    if len(fields) % width:
        raise ValueError("malformed channel groups")
    groups = [fields[i : i + width] for i in range(0, len(fields), width)]
    if width == _GROUP_FIELDS and any(g[0] != f"Ch{n}" for n, g in enumerate(groups, start=1)):
        raise ValueError("malformed channel groups")
    if any(group[-8::2] != list(_CHANNEL_FIELDS) for group in groups):
        raise ValueError("malformed channel groups")
    return tuple(Channel(*(float(v) for v in group[-7::2])) for group in groups)


def line_channels(line: str) -> tuple[Channel, ...]:
    """A sample line's channel groups, leniently: none when they do not parse."""
    try:
        return _channels(cut_line(line.rstrip("\r\n").split(",")).channels)
    except ValueError:
        return ()


def parse_sample_line(line: str) -> tuple[Sample, str | None]:
    """Parse one sample line into a Sample and its mark (None when the line has none)."""
    # Only the line end goes, as a file's reader (parse_line) takes it: other white space (a form
    # feed in a mark) is part of the line; str.strip() made the two readers disagree on it.
    cut = cut_line(line.rstrip("\r\n").split(","))
    if not cut.is_sample:
        raise AnalyzerError(f"not a PTDaemon sample line: {line.strip()[:120]!r}")
    try:
        t_ns = parse_mlperf_time(str(cut.stamp))
        watts, volts, amps, pf = (float(str(v)) for v in cut.values)
        channels = _channels(cut.channels)
    except ValueError as exc:
        raise AnalyzerError(f"bad value in PTDaemon sample line {line.strip()[:120]!r}") from exc
    return Sample(t_ns, watts, volts, amps, pf, channels), cut.mark


def parse_sample_lines(lines: Sequence[str]) -> list[Sample]:
    """The samples of unmarked lines (an ``RL`` reply), oldest first.

    Same samples and errors as ``parse_sample_line`` on each line, but column-wise over the
    whole batch when every line has one shape; any other batch goes line by line.
    """
    stripped = [line.rstrip("\r\n") for line in lines]
    try:
        return _parse_columns(stripped)
    except ValueError:
        return [parse_sample_line(line)[0] for line in stripped]


def _parse_columns(lines: list[str]) -> list[Sample]:
    """Column-wise parse; ValueError for anything but a batch of well-formed lines of one shape."""
    if not lines:
        return []
    width = lines[0].count(",") + 1
    bare = lines[0].split(",", 11)[10:11] == ["Watts"]
    group_fields = _BARE_GROUP_FIELDS if bare else _GROUP_FIELDS
    groups, extra = divmod(width - _SUM_FIELDS, group_fields)
    if groups < 0 or extra or any(line.count(",") != width - 1 for line in lines):
        raise ValueError("lines of different shapes")
    fields = ",".join(lines).split(",")

    def column(index: int) -> list[str]:
        return fields[index::width]

    def literal(index: int, text: str) -> None:
        if column(index).count(text) != len(lines):
            raise ValueError(f"column {index} is not all {text!r}")

    def numbers(index: int) -> list[float]:
        return list(map(float, column(index)))

    literal(TIME_FIELD, "Time")
    for value_field, name in zip(VALUE_FIELDS, _CHANNEL_FIELDS, strict=True):
        literal(value_field - 1, name)
    stamps = _parse_stamps(column(STAMP_FIELD))
    watts, volts, amps, pf = (numbers(i) for i in VALUE_FIELDS)
    channels: list[tuple[Channel, ...]] = [()] * len(lines)
    if groups:
        per_group = []
        for group in range(groups):
            base = _SUM_FIELDS + group * group_fields - bare  # the bare group's "Watts" at base + 1
            if not bare:
                literal(base, f"Ch{group + 1}")
            for offset, name in enumerate(_CHANNEL_FIELDS):
                literal(base + 1 + 2 * offset, name)
            per_group.append(list(map(Channel, *(numbers(base + 2 + 2 * k) for k in range(4)))))
        channels = list(zip(*per_group, strict=True))
    return list(map(Sample, stamps, watts, volts, amps, pf, channels))


def _parse_stamps(texts: list[str]) -> list[int]:
    """``parse_mlperf_time`` of each stamp, each distinct stamp parsed once."""
    parsed: dict[str, int] = {}
    midnights: dict[str, int] = {}
    for text in texts:
        if text not in parsed:
            parsed[text] = _parse_stamp(text, midnights)
    return [parsed[text] for text in texts]


def _parse_stamp(text: str, midnights: dict[str, int]) -> int:
    """``parse_mlperf_time``, with strptime once per day: a 1 kHz meter has 1,000 stamps a
    second. Anything but a canonical ``MM-DD-YYYY HH:MM:SS.fff`` goes to strptime."""
    clock = text[11:13] + text[14:16] + text[17:19] + text[20:23]
    canonical = (len(text) == 23 and text[10] == " " and text[13] == text[16] == ":" and text[19] == "."
                 and clock.isascii() and clock.isdigit())
    if not canonical or int(clock[0:2]) > 23 or int(clock[2:4]) > 59 or int(clock[4:6]) > 59:
        return parse_mlperf_time(text)
    day = text[:10]
    midnight = midnights.get(day)
    if midnight is None:
        midnight = midnights[day] = parse_mlperf_time(f"{day} 00:00:00.000")
    seconds = (int(clock[0:2]) * 60 + int(clock[2:4])) * 60 + int(clock[4:6])
    return midnight + seconds * NS_PER_S + int(clock[6:9]) * NS_PER_MS


def _number_or_nan(text: str | None) -> float:
    try:
        return math.nan if text is None else float(text)
    except ValueError:
        return math.nan


ParsedLine = tuple[int, float, float, float, float, str]


def parse_line(line: str) -> ParsedLine | None:
    """One sample line as MLCommons' checker reads it: the values where ``cut_line`` finds them
    (NaN when unreadable or missing, whatever their labels), the mark ("" when none). None when it
    is not a sample line or its stamp is bad."""
    cut = cut_line(line.rstrip("\r\n").split(","))
    if cut.head != "Time" or cut.stamp is None:
        return None
    try:
        t_ns = parse_mlperf_time(cut.stamp)
    except ValueError:
        return None
    if not _MIN_T_NS <= t_ns <= _MAX_T_NS:
        return None
    watts, volts, amps, pf = (_number_or_nan(v) for v in cut.values)
    return t_ns, watts, volts, amps, pf, cut.mark or ""
