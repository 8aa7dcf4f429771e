"""The detail-log parser on real LoadGen output, and on broken logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer_drivers.formats.timefmt import format_mlperf_time, parse_mlperf_time
from loadgen_bridge.detail_log import DETAIL_LOG, LoadgenLogError, parse_detail_log


def test_real_loadgen_logs_give_a_window(loadgen_logs: dict[str, Path]) -> None:
    single = parse_detail_log(loadgen_logs["SingleStream"] / DETAIL_LOG)
    offline = parse_detail_log(loadgen_logs["Offline"] / DETAIL_LOG)
    assert (single.scenario, offline.scenario) == ("SingleStream", "Offline")
    assert single.query_count and single.query_count > 50
    assert single.samples_per_query == 1
    assert offline.query_count == 1 and offline.samples_per_query > 100
    assert offline.result_name == "result_samples_per_second" and offline.result
    assert single.result_name == "result_90.00_percentile_latency_ns" and single.result
    for window in (single, offline):
        assert window.validity == "VALID"
        assert window.min_duration_ms == 1000
        assert 1.0 <= window.duration_s < 5.0
        assert format_mlperf_time(window.begin_ns) == window.power_begin


def _copy_without(source: Path, target: Path, key: str) -> Path:
    lines = source.read_text().splitlines(keepends=True)
    target.write_text("".join(line for line in lines if f'"key": "{key}"' not in line))
    return target


def test_missing_power_end_is_a_clear_error(loadgen_logs: dict[str, Path], tmp_path: Path) -> None:
    broken = _copy_without(loadgen_logs["Offline"] / DETAIL_LOG, tmp_path / DETAIL_LOG, "power_end")
    with pytest.raises(LoadgenLogError, match="lacks power_end: the run did not finish"):
        parse_detail_log(broken)


def test_torn_last_line_is_tolerated(loadgen_logs: dict[str, Path], tmp_path: Path) -> None:
    text = (loadgen_logs["SingleStream"] / DETAIL_LOG).read_text()
    torn = tmp_path / DETAIL_LOG
    torn.write_text(text + ':::MLLOG {"key": "result_va')
    assert parse_detail_log(torn).scenario == "SingleStream"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "holds no ':::MLLOG' entries"),
        ("hello\nworld\n", "holds no ':::MLLOG' entries"),
        (
            ':::MLLOG {"key": "power_begin", "value": "yesterday"}\n'
            ':::MLLOG {"key": "power_end", "value": "today"}\n'
            ':::MLLOG {"key": "effective_scenario", "value": "Offline"}\n',
            "bad power_begin/power_end stamp",
        ),
        (
            ':::MLLOG {"key": "power_begin", "value": "01-01-2026 00:00:02.000"}\n'
            ':::MLLOG {"key": "power_end", "value": "01-01-2026 00:00:01.000"}\n'
            ':::MLLOG {"key": "effective_scenario", "value": "Offline"}\n',
            "is not after power_begin",
        ),
    ],
)
def test_malformed_logs_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / DETAIL_LOG
    path.write_text(content)
    with pytest.raises(LoadgenLogError, match=message):
        parse_detail_log(path)


def test_no_log_at_all(tmp_path: Path) -> None:
    with pytest.raises(LoadgenLogError, match="no LoadGen detail log"):
        parse_detail_log(tmp_path / DETAIL_LOG)


def test_time_format_round_trips_at_millisecond_resolution() -> None:
    assert parse_mlperf_time("11-22-2026 12:18:57.073") == 1_795_349_937_073_000_000
    assert format_mlperf_time(1_795_349_937_073_999_999) == "11-22-2026 12:18:57.073"
