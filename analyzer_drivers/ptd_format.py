"""PTDaemon's sample line: ``Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,Ch1,...]``.

One format serves the ``RL`` reply, PTDaemon's ``-l`` log and MLPerf's ``spl.txt``. A
multichannel line carries the sum first (Volts/Amps/PF -1) and then one
``Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf`` group per channel.
"""

from __future__ import annotations

import math

from analyzer_drivers.base import AnalyzerError, Channel, Sample
from analyzer_drivers.timefmt import format_mlperf_time, parse_mlperf_time

_CHANNEL_FIELDS = ("Watts", "Volts", "Amps", "PF")


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6f}"


def _group(watts: float, volts: float, amps: float, pf: float) -> list[str]:
    return ["Watts", _number(watts), "Volts", _number(volts), "Amps", _number(amps), "PF", _number(pf)]


def format_sample_line(sample: Sample, mark: str | None = None) -> str:
    """The PTDaemon text of one sample (no line ending)."""
    if sample.channels:
        parts = ["Time", format_mlperf_time(sample.t_ns), *_group(sample.watts, -1.0, -1.0, -1.0)]
    else:
        parts = ["Time", format_mlperf_time(sample.t_ns),
                 *_group(sample.watts, sample.volts, sample.amps, sample.pf)]
    if mark is not None:
        parts += ["Mark", mark]
    for number, channel in enumerate(sample.channels, start=1):
        parts += [f"Ch{number}", *_group(channel.watts, channel.volts, channel.amps, channel.pf)]
    return ",".join(parts)


def _channels(fields: list[str]) -> tuple[Channel, ...]:
    """``Ch<n>,Watts,w,Volts,v,Amps,a,PF,pf`` groups, in order."""
    if len(fields) % 9 or any(fields[i] != f"Ch{i // 9 + 1}" for i in range(0, len(fields), 9)):
        raise ValueError("malformed channel groups")
    groups = [fields[i : i + 9] for i in range(0, len(fields), 9)]
    if any(group[1:9:2] != list(_CHANNEL_FIELDS) for group in groups):
        raise ValueError("malformed channel groups")
    return tuple(Channel(*(float(v) for v in group[2:9:2])) for group in groups)


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
