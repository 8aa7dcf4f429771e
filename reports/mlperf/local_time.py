"""Stamps written in local time, judged against ``server.json``'s phases (UTC).

power-dev v1.0 runs stamp ``spl.txt``, ``ptd_logs.txt`` (PTDaemon's clock) and sometimes
LoadGen's logs in the machine's local time, while the phases are ``time.time()`` (UTC). The
descriptor's ``timezone`` is Python's ``time.timezone``: seconds west of UTC for *standard*
time, so a run in daylight-saving time is one hour less behind (the v1.0 NVIDIA
A100-PCIex8 3d-unet Offline run: stamps UTC−7 in March, ``timezone`` 28800). MLCommons'
checker allows that hour with a workaround (power-dev ``compliance/check.py``
``compare_time_boundaries``, c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2 lines 363-374:
``phases[1][0] < begin - 3600 < phases[2][0]``). We look for the whole-hour offset that puts
a stamp in its phase, whatever ``timezone`` says, and name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer_drivers.formats.session_meta import PhaseTimes

HOUR_S = 3600
MAX_OFFSET_S = 14 * HOUR_S  # UTC−12 … UTC+14
#: How far outside its phase a stamp may be and still tell UTC from local time.
PHASE_SLACK_S = 60.0


@dataclass(frozen=True)
class LocalOffset:
    """Seconds to add to a stamp to make it UTC (0: it is UTC already)."""

    offset_s: int
    timezone_s: int

    def describe(self, what: str) -> str:
        hours = self.offset_s / HOUR_S
        side = "behind" if self.offset_s > 0 else "ahead of"
        if self.offset_s == self.timezone_s:
            told = f"as the timezone {self.timezone_s} s says"
        elif self.offset_s == self.timezone_s - HOUR_S:
            told = (f"the timezone {self.timezone_s} s less its daylight-saving hour, which MLCommons' "
                    "checker also allows (its 3600 s workaround)")
        else:
            told = f"though the timezone says {self.timezone_s} s"
        return (f"{what} are local time, {abs(hours):g} h {side} UTC ({told}): "
                f"corrected by {self.offset_s:+d} s")


def local_offset_s(stamp_ns: int, phase: list[list[float]], timezone_s: int) -> int:
    """The whole-hour offset (seconds west of UTC) that puts ``stamp_ns`` in its phase,
    nearest the phase's start; 0 when the stamp is in it as written, or when no whole hour
    puts it there (the checks then report what is wrong)."""
    times = PhaseTimes.of_stamps(tuple(tuple(stamp) for stamp in phase))
    began_s = times.began_s
    if began_s is None or times.stopped_s is None:
        return 0
    first, last = began_s - PHASE_SLACK_S, times.stopped_s + PHASE_SLACK_S
    stamp_s = stamp_ns / 1e9
    if first <= stamp_s <= last:
        return 0
    fitting = [offset for offset in range(-MAX_OFFSET_S, MAX_OFFSET_S + 1, HOUR_S)
               if first <= stamp_s + offset <= last]
    return min(fitting, key=lambda offset: (abs(stamp_s + offset - began_s), offset != timezone_s),
               default=0)
