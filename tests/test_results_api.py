"""The Python API, pandas frames and the results index: the docs' notebook example runs
here, ``compare --csv`` equals ``sessions_frame``, aborted sessions are listed and skipped."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

import power_director as pdr
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from power_director.api import MeasureError, WindowResult
from power_director.config.meters.ptd import PtdConfig
from reports.store.sqlite import INDEX_FILE, Query, SqliteStore
from tests.conftest import run_cli, session_dirs

PYTHON_API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
HEADLINE_COLUMNS = ["session", "scenario", "value", "unit", "uncertainty", "efficiency", "verdict"]


def notebook_example() -> str:
    text = PYTHON_API_PAGE.read_text(encoding="utf-8")
    match = re.search(r"<!-- notebook-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/python-api.md lost its notebook example"
    return match.group(1)


def test_docs_notebook_example_runs(demo_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    shutil.copytree(out, tmp_path / "power-runs")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(notebook_example(), "docs/python-api.md", "exec"), namespace)
    result = namespace["r"]
    assert isinstance(result, pdr.WindowResult)
    assert result.energy_j and result.energy_j > 0 and result.avg_watts and result.avg_watts >= 55
    assert result.sample_count >= 1 and result.uncertainty_watts is not None
    frame = namespace["frame"]
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2
    assert set(HEADLINE_COLUMNS) <= set(frame.columns)
    assert set(frame["scenario"]) == {"Offline", "SingleStream"}
    assert frame["value"].notna().all() and frame["uncertainty"].gt(0).all()
    samples = namespace["samples"]
    assert isinstance(samples, pd.DataFrame) and {"ranging", "testing"} <= set(samples["phase"])
    assert "J," in printed.getvalue()

    runs = namespace["runs"]
    assert isinstance(runs, list)
    compared = run_cli("compare", *(str(p) for p in runs), "--csv", timeout=60)
    assert compared.returncode == 0, compared.stderr
    assert compared.stdout == frame.to_csv(index=False)


def test_a_window_over_a_constant_load_measures_its_energy() -> None:
    """A 100 W constant simulated load: the window's energy is 100 W × its duration, within the
    simulator's 6-decimal stamps and the edges (generous: no timing assertion)."""
    monitor = pdr.measure(meter=constant_model(100.0), interval_ms=50)
    monitor.begin_window("outer")
    monitor.begin_window("inner")
    time.sleep(0.6)
    inner = monitor.end_window("inner")
    time.sleep(0.3)
    outer = monitor.end_window("outer")
    monitor.close()
    for window in (inner, outer):
        assert window.avg_watts == pytest.approx(100.0, rel=1e-3)
        assert window.energy_j == pytest.approx(100.0 * window.duration_s, rel=1e-3)
        assert all(s.watts == pytest.approx(100.0) for s in window.samples)
    assert outer.duration_s > inner.duration_s and outer.begin_ns < inner.begin_ns
    with pytest.raises(MeasureError, match="no open window"):
        monitor.end_window("inner")


async def _measure_from_a_coroutine() -> tuple[WindowResult | None, WindowResult, WindowResult]:
    """The simulator answers on this coroutine's own event loop: had ``async with`` or an
    awaited window blocked the loop, the meter could not answer and the monitor would fail."""
    simulator = PtdSimulator(model=constant_model(100.0), averaging_ms=50)
    port = await simulator.start_server("127.0.0.1", 0)
    meter = PtdConfig(port=port, interval_ms=50, connect_timeout_s=20.0)
    try:
        async with pdr.measure(meter=meter) as block:
            await asyncio.sleep(0.5)
        monitor = pdr.measure(meter=meter)
        await asyncio.gather(monitor.abegin_window("outer"), monitor.abegin_window("inner"))
        await asyncio.sleep(0.4)
        inner = await monitor.aend_window("inner")
        await asyncio.sleep(0.3)
        outer = await monitor.aend_window("outer")
        await monitor.aclose()
    finally:
        await simulator.close()
    return block.result, inner, outer


def test_async_measure_keeps_the_event_loop_free() -> None:
    block, inner, outer = asyncio.run(_measure_from_a_coroutine())
    assert block is not None and block.duration_s >= 0.5
    for window in (block, inner, outer):
        assert window.avg_watts == pytest.approx(100.0, rel=1e-3)
        assert window.energy_j == pytest.approx(100.0 * window.duration_s, rel=1e-3)
        assert window.sample_count >= 2 and window.meter.startswith("PowerDirectorSimulator")
    assert outer.duration_s > inner.duration_s and outer.end_ns > inner.end_ns


def test_async_measure_of_an_unreachable_meter_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def measure_nothing() -> None:
        async with pdr.measure(meter=PtdConfig(port=port, connect_timeout_s=0.5)):
            pass

    with pytest.raises(MeasureError, match="meter failed"):
        asyncio.run(measure_nothing())


def test_an_unreachable_meter_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "dead.toml"
    config.write_text(f'[analyzer]\ntype = "ptd"\nport = {port}\nconnect_timeout_s = 0.5\n')
    with pytest.raises(MeasureError, match="meter failed"), pdr.measure(meter=config):
        pass


def _abort(session: Path) -> None:
    """What an aborted session looks like: status aborted with its error, no report."""
    meta = json.loads((session / "session.json").read_text())
    meta.update(status="aborted", error="workload exited with status 3 in the testing phase")
    (session / "session.json").write_text(json.dumps(meta))
    (session / "report.json").unlink()


def test_index_lists_aborted_and_compare_skips_them(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    runs = tmp_path / "runs"
    shutil.copytree(out, runs)
    (runs / INDEX_FILE).unlink(missing_ok=True)
    aborted = session_dirs(runs)["demo-singlestream"]
    _abort(aborted)
    listed = run_cli("ls", str(runs), "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = {row["session"]: row for row in json.loads(listed.stdout)}
    assert rows[aborted.name]["status"] == "aborted" and rows[aborted.name]["value"] is None
    assert (runs / INDEX_FILE).is_file()
    compared = run_cli("compare", *(str(p) for p in sorted(runs.iterdir())), timeout=60)
    assert compared.returncode == 0, compared.stderr
    assert f"skipping {aborted.name}: aborted (workload exited" in compared.stderr
    assert "demo-offline" in compared.stdout and aborted.name not in compared.stdout
    only_aborted = run_cli("compare", str(aborted), timeout=60)
    assert only_aborted.returncode == 2 and "no finished session" in only_aborted.stderr


def test_store_query_filters_and_rebuild(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, out = demo_run
    runs = tmp_path / "runs"
    shutil.copytree(out, runs)
    with SqliteStore.at(runs) as store:
        assert store.rebuild(runs) == 2
        (offline,) = store.query(Query(scenario="offline"))
        assert offline.unit == "W" and offline.tool_version and offline.config_hash
        assert [r.scenario for r in store.query(Query(newest_first=False))] == ["SingleStream", "Offline"]
        assert store.query(Query(meter="no such meter")) == []
        assert store.sync(runs) == 0  # nothing changed: nothing re-read
        shutil.rmtree(offline.path)
        store.sync(runs)
        assert [r.scenario for r in store.query()] == ["SingleStream"]
    frame = pdr.sessions_frame(SqliteStore.at(runs))
    assert list(frame["scenario"]) == ["SingleStream"]


def test_a_session_that_measured_nothing_leaves_no_directory(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "dead.toml"
    config.write_text(f'[analyzer]\ntype = "ptd"\nport = {port}\nconnect_timeout_s = 0.5\n')
    (tmp_path / "runs").mkdir()
    result = run_cli("run", "--config", str(config), "--out", str(tmp_path / "runs" / "new"), "--", "true")
    assert result.returncode == 2
    assert "nothing was measured; no session directory kept" in result.stderr
    assert not any((tmp_path / "runs").iterdir())  # nor the output folder it would have made


def test_parquet_export_reads_back_as_the_frame(demo_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("pyarrow", reason="Parquet export is the optional [parquet] extra")
    _, out = demo_run
    runs = tmp_path / "runs"
    shutil.copytree(out, runs)
    target = tmp_path / "runs.parquet"
    result = run_cli("ls", str(runs), "--parquet", str(target), timeout=60)
    assert result.returncode == 0, result.stderr
    with SqliteStore.at(runs) as store:
        expected = pdr.sessions_frame(store)
    pd.testing.assert_frame_equal(pd.read_parquet(target), expected, check_dtype=False)
