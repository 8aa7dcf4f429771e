"""The LoadGen window: the measured interval of one run and its results, as every package sees
it (``loadgen_bridge.detail_log`` reads it from ``mlperf_log_detail.txt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Window:
    """The measured interval of one LoadGen run, on the SUT's clock, and its results."""

    scenario: str
    power_begin: str  # as LoadGen wrote it: MM-DD-YYYY HH:MM:SS.fff, UTC
    power_end: str
    begin_ns: int
    end_ns: int
    query_count: float | None  # result_query_count, or derived from QPS for old LoadGen (see detail_log)
    samples_per_query: int
    result: float | None  # samples/s (Offline, Server) or 90th-percentile latency ns
    result_name: str
    validity: str
    min_duration_ms: int | None
    query_source: str = "result_query_count"
    values: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.begin_ns) / 1e9
