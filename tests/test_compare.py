"""power-director compare: a table of sessions, a plot, and a one-line error for a non-session."""

from __future__ import annotations

import shutil
from pathlib import Path

from matplotlib.image import imread

from reports.build.compare import SessionSummary, efficiency_bar, format_table, load_sessions
from reports.model.headline import metric_uncertainty
from reports.model.report import SessionReport
from tests.conftest import run_cli, session_dirs


def test_compare_two_demo_sessions(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    sessions = session_dirs(out)
    plot = tmp_path / "compare.png"
    result = run_cli("compare", *(str(p) for p in sessions.values()), "--plot", str(plot), timeout=60)
    assert result.returncode == 0, result.stderr
    for session in sessions.values():
        assert session.name in result.stdout
    assert "mJ/query" in result.stdout and " W " in result.stdout
    assert "samples/s/W" in result.stdout and "queries/J" in result.stdout
    assert imread(plot).ndim == 3


def test_compare_rejects_a_directory_that_is_not_a_session(tmp_path: Path) -> None:
    result = run_cli("compare", str(tmp_path), timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("power-director: error: ")
    assert str(tmp_path) in lines[0] and "Traceback" not in result.stderr


def test_compare_recomputes_a_missing_report_json(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    original = session_dirs(out)["demo-offline"]
    copied = tmp_path / original.name
    shutil.copytree(original, copied)
    (copied / "report.json").unlink()
    recomputed, stored = load_sessions([copied, original])
    assert recomputed.metric == stored.metric


def test_uncertainty_shows_in_the_table(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    (summary,) = load_sessions([session_dirs(out)["demo-offline"]])
    watts = summary.metric.value
    assert watts is not None
    # The demo's own error budget is there, relative to the metric.
    assert summary.report.uncertainty is not None and (summary.report.uncertainty.relative or 0) > 0
    report = SessionReport.from_json({**summary.report.to_json(), "uncertainty": {"relative": 0.02}})
    assert abs((metric_uncertainty(report) or 0.0) - 0.02 * watts) < 1e-9
    with_budget = SessionSummary(summary.session, report)
    assert f"±{0.02 * watts:.3g} W" in format_table([with_budget])


def test_compare_plot_shows_efficiency_with_the_repeat_interval(demo_run) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    (summary,) = load_sessions([session_dirs(out)["demo-offline"]])
    single = efficiency_bar(summary)
    assert single is not None and single.unit == "samples/s/W" and "(run 1)" in single.label
    efficiency = summary.report.to_json()["efficiency"]["samples_per_second_per_watt"]
    assert single.value == efficiency
    assert single.error == efficiency * summary.report.to_json()["uncertainty"]["relative"]
    repeat = {"efficiency": {"key": "samples_per_second_per_watt", "n": 3, "mean": 2.0, "half_width": 0.25}}
    repeated = efficiency_bar(SessionSummary(
        summary.session, SessionReport.from_json({**summary.report.to_json(), "repeat": repeat})))
    assert repeated is not None and (repeated.value, repeated.error) == (2.0, 0.25)
    assert "95 % CI, n=3" in repeated.label
