"""PTDaemon's sample line: ``Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,Ch1,...]``.

One format serves the ``RL`` reply, PTDaemon's ``-l`` log and MLPerf's ``spl.txt``. A
multichannel line carries the sum first (Volts/Amps/PF -1 from PTDaemon 1.9, their means
from 1.10) and then one group per channel. In the log and ``spl.txt`` each group is
``Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf``; in a real ``RL,*,*`` reply the groups are bare
``Watts,w,Volts,v,Amps,a,PF,pf`` (power-dev's ``lib/server.py`` inserts ``Mark`` and
``Ch<n>`` itself when it writes the log; see the v4.1 fixture's ``server.log``). Parsing
takes either form; writing gives the ``Ch<n>`` form, or the bare one with ``bare=True``.

Lines come by the tens of thousands a second from a fast meter, so the batch functions
(``format_sample_lines``, ``parse_sample_lines``) work column-wise; the one-line functions
are the reference they must agree with. A meter's reply is read strictly
(``parse_sample_line``: anything malformed is an error); a file as MLCommons' checker reads
it (``parse_line``: an unreadable value is NaN, a line that is no sample is skipped), and
``ptd_scan`` is the fast scanner held bit-equal to ``parse_line``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from analyzer_drivers.formats.errors import AnalyzerError
from analyzer_drivers.formats.sample import Channel, Sample
from analyzer_drivers.formats.timefmt import NS_PER_MS, NS_PER_S, format_mlperf_time, parse_mlperf_time

_CHANNEL_FIELDS = ("Watts", "Volts", "Amps", "PF")
_MIN_T_NS, _MAX_T_NS = -(2**63), 2**63 - 1  # what an int64 stamp holds
_SUM_FIELDS = 10  # Time,t,Watts,w,Volts,v,Amps,a,PF,pf
_GROUP_FIELDS = 9  # Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf
_BARE_GROUP_FIELDS = 8  # Watts,w,Volts,v,Amps,a,PF,pf (an RL,*,* reply)


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
    parts = ["Time", stamp, *_group(sample.watts, -1.0, -1.0, -1.0)]
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


def parse_sample_line(line: str) -> tuple[Sample, str | None]:
    """Parse one sample line into a Sample and its mark (None when the line has none)."""
    fields = line.strip().split(",")
    if len(fields) < 10 or fields[0] != "Time" or fields[2:10:2] != list(_CHANNEL_FIELDS):
        raise AnalyzerError(f"not a PTDaemon sample line: {line.strip()[:120]!r}")
    mark = fields[11] if len(fields) >= 12 and fields[10] == "Mark" else None
    try:
        t_ns = parse_mlperf_time(fields[1])
        watts, volts, amps, pf = (float(v) for v in fields[3:10:2])
        channels = _channels(fields[12:] if mark is not None else fields[10:])
    except ValueError as exc:
        raise AnalyzerError(f"bad value in PTDaemon sample line {line.strip()[:120]!r}") from exc
    return Sample(t_ns, watts, volts, amps, pf, channels), mark


def parse_sample_lines(lines: Sequence[str]) -> list[Sample]:
    """The samples of unmarked lines (an ``RL`` reply), oldest first.

    Same samples and errors as ``parse_sample_line`` on each line, but column-wise over the
    whole batch when every line has one shape; any other batch goes line by line.
    """
    stripped = [line.strip() for line in lines]
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

    literal(0, "Time")
    for offset, name in enumerate(_CHANNEL_FIELDS):
        literal(2 + 2 * offset, name)
    stamps = _parse_stamps(column(1))
    watts, volts, amps, pf = (numbers(i) for i in (3, 5, 7, 9))
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


def _number_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


ParsedLine = tuple[int, float, float, float, float, str]


def parse_line(line: str) -> ParsedLine | None:
    """One sample line by definition: fields 3, 5, 7, 9 are the values (NaN when unreadable),
    field 11 the mark when field 10 is ``Mark``. None when it is not a sample line or its stamp
    is bad."""
    fields = line.rstrip("\r\n").split(",")
    if fields[0] != "Time" or len(fields) < 2:
        return None
    try:
        t_ns = parse_mlperf_time(fields[1])
    except ValueError:
        return None
    if not _MIN_T_NS <= t_ns <= _MAX_T_NS:
        return None
    values = [_number_or_nan(fields[i]) if i < len(fields) else math.nan for i in (3, 5, 7, 9)]
    mark = fields[11] if len(fields) > 11 and fields[10] == "Mark" else ""
    return t_ns, values[0], values[1], values[2], values[3], mark
