"""Read LoadGen's ``mlperf_log_detail.txt`` (``:::MLLOG {json}`` lines) into a Window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analyzer_drivers.formats.errors import FormatError
from analyzer_drivers.formats.timefmt import parse_mlperf_time
from analyzer_drivers.formats.window import Window

DETAIL_LOG = "mlperf_log_detail.txt"
SUMMARY_LOG = "mlperf_log_summary.txt"
MLLOG_PREFIX = ":::MLLOG "
MAX_DETAIL_LOG_BYTES = 512 * 1024 * 1024

SAMPLES_PER_QUERY = {"SingleStream": 1, "MultiStream": 8}


class LoadgenLogError(FormatError):
    """A LoadGen log is missing, unreadable or lacks what a power result needs."""


def read_mllog(path: Path) -> dict[str, Any]:
    """All ``key → value`` pairs of a detail log (the last value wins for a repeated key)."""
    if not path.is_file():
        raise LoadgenLogError(f"no LoadGen detail log at {path}")
    if path.stat().st_size > MAX_DETAIL_LOG_BYTES:
        raise LoadgenLogError(f"{path} is over {MAX_DETAIL_LOG_BYTES >> 20} MiB; not a detail log")
    values: dict[str, Any] = {}
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith(MLLOG_PREFIX):
                continue
            try:
                entry = json.loads(line[len(MLLOG_PREFIX) :])
            except json.JSONDecodeError:
                continue  # a torn last line of a killed run; the keys we need are checked below
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                values[entry["key"]] = entry.get("value")
    if not values:
        raise LoadgenLogError(f"{path} holds no ':::MLLOG' entries; is it a LoadGen detail log?")
    return values


def _result_of(scenario: str, values: dict[str, Any]) -> tuple[str, float | None]:
    name = {
        "Offline": "result_samples_per_second",
        "Server": "result_completed_samples_per_sec",
        "SingleStream": "result_90.00_percentile_latency_ns",
        "MultiStream": "result_99.00_percentile_latency_ns",
    }.get(scenario, "result_samples_per_second")
    value = values.get(name)
    return name, float(value) if isinstance(value, (int, float)) else None


def parse_detail_log(path: Path) -> Window:
    """The power window and results of one run. Raises LoadgenLogError with the reason."""
    values = read_mllog(path)
    missing = [k for k in ("power_begin", "power_end", "effective_scenario") if k not in values]
    if missing:
        raise LoadgenLogError(f"{path} lacks {', '.join(missing)}: the run did not finish")
    begin, end = str(values["power_begin"]), str(values["power_end"])
    try:
        begin_ns, end_ns = parse_mlperf_time(begin), parse_mlperf_time(end)
    except ValueError as exc:
        raise LoadgenLogError(f"{path}: bad power_begin/power_end stamp ({begin!r}, {end!r})") from exc
    if end_ns <= begin_ns:
        raise LoadgenLogError(f"{path}: power_end {end} is not after power_begin {begin}")
    scenario = str(values["effective_scenario"])
    query_count, query_source = _query_count(values, scenario, (end_ns - begin_ns) / 1e9)
    samples_per_query = values.get("effective_samples_per_query")
    min_duration = values.get("effective_min_duration_ms")
    result_name, result = _result_of(scenario, values)
    return Window(
        scenario=scenario,
        power_begin=begin,
        power_end=end,
        begin_ns=begin_ns,
        end_ns=end_ns,
        query_count=query_count,
        samples_per_query=int(samples_per_query)
        if isinstance(samples_per_query, int)
        else SAMPLES_PER_QUERY.get(scenario, 1),
        result=result,
        result_name=result_name,
        validity=str(values.get("result_validity", "UNKNOWN")),
        min_duration_ms=int(min_duration) if isinstance(min_duration, (int, float)) else None,
        query_source=query_source,
        values=values,
    )


def _query_count(values: dict[str, Any], scenario: str, duration_s: float) -> tuple[float | None, str]:
    """``result_query_count``, else (LoadGen before v2.0 did not log it) the old checker's count."""
    count = values.get("result_query_count")
    if isinstance(count, (int, float)):
        return float(int(count)), "result_query_count"
    return legacy_query_count(values, scenario, duration_s)


def legacy_query_count(values: dict[str, Any], scenario: str, duration_s: float) -> tuple[float | None, str]:
    """The query count of the checker of rounds v0.5-v1.1 (mlcommons/inference
    tools/submission/submission-checker.py at 0ca20e70, ``check_power_dir``):
    ``result_qps_with_loadgen_overhead × duration`` (SingleStream) or
    ``generated_query_count × generated_samples_per_query`` (MultiStream)."""
    generated, per_query = values.get("generated_query_count"), values.get("generated_samples_per_query")
    if scenario == "MultiStream":
        if isinstance(generated, int) and isinstance(per_query, int):
            return float(generated * per_query), "generated_query_count x generated_samples_per_query"
        return None, "no generated_query_count in the detail log"
    qps = values.get("result_qps_with_loadgen_overhead")
    if isinstance(qps, (int, float)):
        return float(qps) * duration_s, "result_qps_with_loadgen_overhead x duration (old LoadGen)"
    return None, "no result_query_count or result_qps_with_loadgen_overhead in the detail log"
