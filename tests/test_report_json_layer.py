"""report.json on the declarative record layer (``reports.report_json``, the one session.json
uses): every report.json a session writes, and every report of a real published MLPerf run
(tests/fixtures/real-submissions/, see its README for sources), reads back into the typed report
and writes back byte for byte; a key of the wrong type anywhere is one line naming it."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_meta import AnalyzerRecord
from reports.model.report import SessionReport
from reports.report_parts import Efficiency, PhasePower
from tests.conftest import run_cli, session_dirs

FIXTURES = Path(__file__).parent / "fixtures" / "real-submissions"
RUNS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _round_trips(path: Path) -> SessionReport:
    text = path.read_text(encoding="utf-8")
    report = SessionReport.read(path)
    assert report.to_json() == json.loads(text)
    assert report.dumps() == text  # the same bytes: keys, order, numbers
    return report


def test_the_demo_sessions_report_json_reads_back_byte_for_byte(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    for session in session_dirs(out).values():
        report = _round_trips(session / "report.json")
        assert isinstance(report.analyzer, AnalyzerRecord) and report.analyzer.name
        ranges = report.ranges.values()
        assert ranges and all(r is None or r.volts is None or r.volts > 0 for r in ranges)


def test_a_measured_command_with_a_beside_meter_reads_back_byte_for_byte(tmp_path: Path) -> None:
    done = run_cli("measure", "--meter", "sim", "--sim-estimate", "--quiet", "--out", str(tmp_path), "--",
                   sys.executable, "-c", "sum(range(10**6))")
    assert done.returncode == 0, done.stderr
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    report = _round_trips(session / "report.json")
    assert report.measure is not None and report.measure.runs and report.beside
    assert report.beside[0].driver in json.loads((session / "report.json").read_text())["beside"]


@pytest.mark.parametrize("run", RUNS)
def test_a_real_runs_report_reads_back_byte_for_byte(run: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = run_cli("report", str(FIXTURES / run), "--out", str(out), timeout=120)
    assert done.returncode in (0, 1), done.stderr  # 1: the run is not valid by today's rules
    report = _round_trips(out / "report.json")
    assert report.extra.get("imported") and report.testing is not None


def _report(demo_run: Any) -> dict[str, Any]:
    _, out = demo_run
    data: dict[str, Any] = json.loads((session_dirs(out)["demo-offline"] / "report.json").read_text())
    return data


BROKEN = [  # the typed parts beside tests/test_report_model.py's MALFORMED
    (("analyzer", "interval_ms"), 1.5, "report.json: analyzer.interval_ms is a number, not an integer"),
    (("ranges", "testing"), "auto", "report.json: ranges.testing is a string, not an object"),
    (("efficiency",), [], "report.json: efficiency is a list, not an object"),
    (("testing", "power", "time_weighted", "gap_count"), "x",
     "report.json: testing.power.time_weighted.gap_count is a string, not an integer"),
]


@pytest.mark.parametrize(("path", "value", "message"), BROKEN)
def test_a_key_of_the_wrong_type_is_one_line_naming_it(
    demo_run: Any, tmp_path: Path, path: tuple[Any, ...], value: Any, message: str
) -> None:
    data = copy.deepcopy(_report(demo_run))
    where = data
    for step in path[:-1]:
        where = where[step]
    where[path[-1]] = value
    with pytest.raises(ReportError) as caught:
        SessionReport.from_json(data)
    assert message in str(caught.value) and "\n" not in str(caught.value), caught.value
    file = tmp_path / "report.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportError, match=f"^{file}: report.json: "):
        SessionReport.read(file)


def test_a_key_no_field_knows_stays_where_it_was(demo_run: Any) -> None:
    data = _report(demo_run)
    keys = list(data)
    shuffled = {**{k: data[k] for k in keys[:3]}, "a_later_tool's_key": [1, 2],
                **{k: data[k] for k in keys[3:]}}
    shuffled["testing"]["power"] = {"future": {"x": 1}, **shuffled["testing"]["power"]}
    report = SessionReport.from_json(shuffled)
    assert report.to_json() == shuffled and list(report.to_json()) == list(shuffled)
    assert report.extra == {"a_later_tool's_key": [1, 2]}


def test_a_built_record_writes_its_keys_in_the_files_order_and_leaves_out_the_absent_ones() -> None:
    assert Efficiency(queries_per_joule=2.0).to_json() == {"queries_per_joule": 2.0}
    keys = list(PhasePower(avg_watts=1.0, method_difference_pct=0.5).to_json())
    assert keys[-3:] == ["time_weighted", "method_difference_pct", "coverage"]  # no uncertainty: no key
    assert "method_difference_pct" not in PhasePower(avg_watts=1.0).to_json()
