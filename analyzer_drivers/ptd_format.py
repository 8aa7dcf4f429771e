"""PTDaemon's sample line: ``Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,Ch1,...]``.

One format serves the ``RL`` reply, PTDaemon's ``-l`` log and MLPerf's ``spl.txt``.
"""

from __future__ import annotations

import math

from analyzer_drivers.base import AnalyzerError, Sample
from analyzer_drivers.timefmt import format_mlperf_time, parse_mlperf_time

_CHANNEL_FIELDS = ("Watts", "Volts", "Amps", "PF")


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6f}"


def format_sample_line(sample: Sample, mark: str | None = None) -> str:
    """The PTDaemon text of one sample (no line ending)."""
    parts = [
        "Time",
        format_mlperf_time(sample.t_ns),
        "Watts",
        _number(sample.watts),
        "Volts",
        _number(sample.volts),
        "Amps",
        _number(sample.amps),
        "PF",
        _number(sample.pf),
    ]
    if mark is not None:
        parts += ["Mark", mark]
    return ",".join(parts)


def parse_sample_line(line: str) -> tuple[Sample, str | None]:
    """Parse one sample line into a Sample and its mark (None when the line has none)."""
    fields = line.strip().split(",")
    if len(fields) < 10 or fields[0] != "Time" or fields[2:10:2] != list(_CHANNEL_FIELDS):
        raise AnalyzerError(f"not a PTDaemon sample line: {line.strip()[:120]!r}")
    try:
        t_ns = parse_mlperf_time(fields[1])
        watts, volts, amps, pf = (float(v) for v in fields[3:10:2])
    except ValueError as exc:
        raise AnalyzerError(f"bad value in PTDaemon sample line {line.strip()[:120]!r}") from exc
    mark = fields[11] if len(fields) >= 12 and fields[10] == "Mark" else None
    return Sample(t_ns=t_ns, watts=watts, volts=volts, amps=amps, pf=pf), mark
