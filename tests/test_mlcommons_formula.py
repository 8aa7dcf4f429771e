"""report.json's metric equals the MLCommons submission checker's formula on the same files.

The reference below restates the checker's method line by line: strptime per line,
strict ``begin < t < end``, ``Watts > 0``, ``sum()/len()``, and for per-query scenarios
``avg × (end - begin).total_seconds() × 1000 / result_query_count``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from tests.conftest import session_dirs

FMT = "%m-%d-%Y %H:%M:%S.%f"


def checker_metric(run_dir: Path, scenario: str) -> float:
    log = {}
    for line in (run_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG"):
            entry = json.loads(line[len(":::MLLOG ") :])
            log[entry["key"]] = entry["value"]
    begin = datetime.datetime.strptime(log["power_begin"], FMT)
    end = datetime.datetime.strptime(log["power_end"], FMT)
    watts = []
    for line in (run_dir / "spl.txt").read_text().splitlines():
        if not line.startswith("Time"):
            continue
        stamp = datetime.datetime.strptime(line.split(",")[1], FMT)
        if begin < stamp < end:
            value = float(line.split(",")[3])
            if value > 0:
                watts.append(value)
    avg = sum(watts) / len(watts)
    if scenario in ("Offline", "Server"):
        return avg
    return avg * (end - begin).total_seconds() * 1000 / int(log["result_query_count"])


@pytest.mark.parametrize(("label", "key"), [("demo-singlestream", "energy_per_query_mj"),
                                            ("demo-offline", "avg_watts")])
def test_report_metric_equals_the_checker(demo_run, label: str, key: str) -> None:  # type: ignore[no-untyped-def]
    result, out = demo_run
    assert result.returncode == 0, result.stdout + result.stderr
    session = session_dirs(out)[label]
    report = json.loads((session / "report.json").read_text())
    expected = checker_metric(session / "run_1", report["scenario"])
    assert report["power"][key] == pytest.approx(expected, rel=1e-9)
    assert report["power"][key] == expected  # same summation order: bit-identical
