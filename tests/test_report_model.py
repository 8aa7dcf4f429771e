"""The typed report: built once, written as report.json, read back the same; older files read
leniently; a malformed one is a one-line error naming the key, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.errors import ReportError
from reports.build.session_report import build_session_report
from reports.mlperf.eehpc import eehpc_line
from reports.model.eehpc_record import EehpcSection, RunFacts
from reports.model.headline import headline
from reports.model.measure import MeasureRun, SoftwareEstimateFigures, WorkFigures
from reports.model.report import SessionReport
from reports.model.results import load_session
from reports.render.html import render_html
from reports.render.summary import summary_text
from tests.conftest import run_cli, session_dirs


def test_report_json_is_the_typed_report_written_and_read_back(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    for session in session_dirs(out).values():
        stored = (session / "report.json").read_text(encoding="utf-8")
        built, phases = build_session_report(session)
        assert built.dumps() == stored  # the same keys, order and values as the file
        read = SessionReport.read(session / "report.json")
        assert read == built and read.dumps() == stored
        assert [p.power for p in phases] == [built.ranging.power if built.ranging else None, built.power]


def test_an_older_report_with_keys_missing_still_reads() -> None:
    """Before testing/ranging were split out: only the headline figures at the top level."""
    older = {"session": "old", "scenario": "Offline", "valid": True, "mlperf_valid": False,
             "power": {"avg_watts": 101.5, "samples_in_window": 12, "duration_s": 600.0},
             "problems": [], "warnings": ["an old warning"]}
    report = SessionReport.from_json(older)
    assert report.power is not None and report.power.avg_watts == 101.5
    assert headline(report).text() == "101.50 W"
    assert report.warnings == ("an old warning",) and report.checks == ()
    assert report.ranging is None and report.repeat is None and report.sum == ()
    assert "old: Offline 101.50 W" in summary_text(report)
    assert "101.50" in render_html(report, None)


def test_a_recovered_report_reads_as_no_result(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    recovered = {"session": "cut", "label": None, "scenario": None, "valid": False, "mlperf_valid": False,
                 "problems": ["session aborted: no testing LoadGen log"], "warnings": [], "error": "killed",
                 "recovered": {"samples": {"testing": {"ptd": 12}}, "status": "running"},
                 "analyzer": {"name": "sim"}, "ranges": {}}
    report = SessionReport.from_json(recovered)
    assert report.recovered and report.power is None
    assert list(report.problems) == recovered["problems"]
    assert report.extra["error"] == "killed"
    assert summary_text(report).startswith("cut: no result  [INVALID]")
    _, out = demo_run
    session = tmp_path / "cut"
    shutil.copytree(session_dirs(out)["demo-offline"], session)
    (session / "report.json").write_text(json.dumps(recovered), encoding="utf-8")
    assert load_session(session).status == "aborted"


MALFORMED: list[tuple[Any, str]] = [
    ([1, 2], "report.json is a list, not an object"),
    ({"power": {"avg_watts": "lots"}}, "report.json: power.avg_watts is a string, not a number"),
    ({"testing": {"power": {"coverage": {"gap_count": 1.5}}}},
     "report.json: testing.power.coverage.gap_count is a number, not an integer"),
    ({"checks": [{"name": "x", "status": "maybe", "reason": ""}]},
     "report.json: checks[0].status is not one of"),
    ({"repeat": {"ci95": [1.0]}}, "report.json: repeat.ci95 is a list, not a [low, high] pair"),
    ({"valid": "yes"}, "report.json: valid is a string, not true or false"),
    ({"beside": {"rapl": {"cross_validation": []}}},
     "report.json: beside.rapl.cross_validation is a list, not an object"),
    ({"sum": [{"avg_watts": {}}]}, "report.json: sum[0].avg_watts is an object, not a number"),
    ({"measure": {"runs": [{"idle": {"drifted": "no"}}]}},
     "report.json: measure.runs[0].idle.drifted is a string, not true or false"),
    ({"measure": {"summary": {"estimate_error_vs_wall_pct": {"rapl": {"n": "2"}}}}},
     "report.json: measure.summary.estimate_error_vs_wall_pct.rapl.n is a string, not an integer"),
    ({"eehpc": {"not_met": {"2": "too few readings"}}},
     "report.json: eehpc.not_met.2 is a string, not a list"),
    ({"eehpc": {"facts": {"readings_in_core": 7.5}}},
     "report.json: eehpc.facts.readings_in_core is a number, not an integer"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED)
def test_a_malformed_report_is_one_line_naming_the_key(data: Any, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        SessionReport.from_json(data)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_measure_and_eehpc_records_write_only_the_keys_of_what_was_measured() -> None:
    """A run without counted work has no per-unit keys, one with has them even when None; an
    estimate says ``error`` only with one; a fact that is not finite (no reading) is left out
    and reads back as infinite. What is read back writes the keys it was read with."""
    bare = MeasureRun(run=1, exit_code=0, energy_j=None, avg_watts=None, duration_s=0.5)
    assert list(bare.to_json()) == ["run", "exit_code", "energy_j", "avg_watts", "uncertainty_watts",
                                    "uncertainty_j", "duration_s", "phases", "estimates"]
    work = WorkFigures(units=0.0, unit="token", source="--work-regex")
    counted = dataclasses.replace(bare, work=work, unit="token", estimates=(
        SoftwareEstimateFigures(source="rapl"), SoftwareEstimateFigures(source="codecarbon", error="absent")))
    data = counted.to_json()
    assert data["energy_per_unit_j"] is None and data["unit"] == "token" and data["work"]["units"] == 0.0
    assert ["error" in e for e in data["estimates"]] == [False, True]
    assert MeasureRun.from_json(data).to_json() == data and MeasureRun.from_json({}).to_json() == {}
    facts = RunFacts(core_phase_s=1.0, max_interval_s=math.inf, interconnect="none")
    section = EehpcSection(level=0, methodology="m", not_met={"1": ("no readings",)}, facts=facts)
    written = json.loads(json.dumps(section.to_json()))
    assert "max_interval_s" not in written["facts"] and written["not_met"] == {"1": ["no readings"]}
    read = EehpcSection.from_json(written)
    assert read.facts.max_interval_s == math.inf and read.to_json() == written
    assert eehpc_line(read) == "EEHPC: below level 1; level 1 not met: no readings"


def test_compare_on_a_malformed_report_json_says_which_key(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    session = tmp_path / "broken"
    shutil.copytree(session_dirs(out)["demo-offline"], session)
    report = json.loads((session / "report.json").read_text(encoding="utf-8"))
    report["testing"]["power"]["samples_in_window"] = "twelve"
    (session / "report.json").write_text(json.dumps(report), encoding="utf-8")
    result = run_cli("compare", str(session), timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "testing.power.samples_in_window is a string, not an integer" in lines[0], lines
