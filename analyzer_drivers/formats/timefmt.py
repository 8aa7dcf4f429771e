"""The month-first UTC millisecond timestamps of PTDaemon logs and LoadGen's power markers.

``MM-DD-YYYY HH:MM:SS.fff`` — both PTDaemon (run with ``TZ=UTC``) and LoadGen's
``power_begin``/``power_end`` write it. Inside the project time is UTC epoch ns.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

MLPERF_TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def format_mlperf_time(t_ns: int) -> str:
    """UTC epoch ns → ``MM-DD-YYYY HH:MM:SS.fff``, truncated to the millisecond."""
    t_ms = t_ns // NS_PER_MS
    return _second_stamp(t_ms // 1000) + f"{t_ms % 1000:03d}"


@lru_cache(maxsize=256)
def _second_stamp(t_s: int) -> str:
    """``MM-DD-YYYY HH:MM:SS.`` of one second: a thousand meters' samples of a second share it."""
    return (_EPOCH + dt.timedelta(seconds=t_s)).strftime("%m-%d-%Y %H:%M:%S.")


def parse_mlperf_time(text: str) -> int:
    """``MM-DD-YYYY HH:MM:SS.fff`` (UTC) → epoch ns. Raises ValueError on a bad stamp."""
    stamp = dt.datetime.strptime(text.strip(), MLPERF_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    delta = stamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
