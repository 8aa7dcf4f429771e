"""``session.json`` as a typed ``SessionMeta``: every file we write or import reads back and
writes out byte for byte, and a malformed one is a one-line error, never a traceback."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.errors import ReportError
from analyzer_drivers.formats.session_layout import read_session_meta
from analyzer_drivers.formats.session_meta import SessionMeta, WindowCorrection
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import ExtraMeter, Session
from reports.build.mlperf_import import import_run
from reports.clock_report import corrected_window
from reports.mlperf.evidence import read_evidence
from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "real-submissions"
RUNS = sorted(p for p in FIXTURES.iterdir() if p.is_dir())


def _text(meta: dict[str, Any]) -> str:
    """session.json's bytes, as the session writes them."""
    return json.dumps(meta, indent=2, default=str) + "\n"


def assert_round_trips(path: Path) -> SessionMeta:
    text = path.read_text(encoding="utf-8")
    meta = SessionMeta.from_json(json.loads(text))
    assert _text(meta.to_json()) == text
    assert SessionMeta.from_json(meta.to_json()) == meta
    return meta


def test_the_demo_sessions_round_trip(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, out = demo_run
    assert result.returncode == 0, result.stderr
    files = sorted(out.rglob("session.json"))
    assert files
    for path in files:
        meta = assert_round_trips(path)
        assert meta.status == "completed" and meta.phase("testing").times.stopped_s is not None


def _session(out_root: Path, **options: Any) -> Session:
    async def main() -> Session:
        simulator = PtdSimulator(identity="wt310")
        port = await simulator.start_server()
        extra = PtdSimulator(identity="wt310")
        extra_port = await extra.start_server()
        config = Config(PtdConfig(port=port, interval_ms=100), SessionConfig(settle_s=0.0))
        try:
            session = Session(config, PtdAnalyzer("127.0.0.1", port),
                              InProcessLoadgen(CpuBenchmark("Offline", 0.5)), out_root=out_root,
                              label="meta", say=lambda _: None,
                              extra_analyzers=[ExtraMeter(PtdAnalyzer("127.0.0.1", extra_port), "sum")],
                              **options)
            await session.run()
            return session
        finally:
            await simulator.close()
            await extra.close()

    return asyncio.run(main())


def test_a_session_with_two_meters_repeats_and_reused_ranging_round_trips(tmp_path: Path) -> None:
    first = _session(tmp_path / "first", repeat=2)
    meta = assert_round_trips(first.dir / "session.json")
    assert _text(first.meta.to_json()) == (first.dir / "session.json").read_text()  # what it holds is on disk
    assert [a.role for a in meta.analyzers] == ["primary", "sum"] and meta.analyzer == meta.analyzers[0]
    assert list(meta.phases) == ["ranging", "testing", "testing_2"]
    assert meta.ranges["testing"] is not None and meta.analyzers[1].ranges["testing"] is not None
    reused = _session(tmp_path / "second", reuse_ranging=first.dir)
    meta = assert_round_trips(reused.dir / "session.json")
    assert meta.reused_ranging is not None and meta.reused_ranging.session == str(first.dir.resolve())
    assert "ranging" not in meta.phases


def test_everything_a_session_can_record_round_trips_with_unknown_keys_kept(tmp_path: Path) -> None:
    """Every key a session writes (a remote SUT's clock, reconnects, a remote meter's
    evidence, a v3 client's messages, a multinode system), and keys we do not know."""
    stamps = {"begin_ns": 10, "end_ns": 20, "begin": "01-01-2026 00:00:00.000",
              "end": "01-01-2026 00:00:00.010"}
    data: dict[str, Any] = {
        "session_name": "s", "label": "l", "status": "aborted", "interval_ms": 1000, "settle_s": 0,
        "workload": "w", "tool_version": "1", "host": "h", "command": "c", "config_hash": "x",
        "uuid": {"client": "a", "server": "b"},
        "ranges": {"initial": {"volts": 300.0, "amps": 20.0}, "ranging": None, "testing": {}},
        "phases": {
            "ranging": {
                "mark": "s_ranging", "times": [[1.5, 2.0], [3, 4]], "uncertainty_mean": None,
                "meters": {"plug": {
                    "agent": "a", "lost": 1, "replayed": 2, "broker_outages": [[1, 2]],
                    "clock": {"offset_ns": 5, "bound_ns": 6, "drift_ppm": 0.1, "batches": 3},
                    "uncertainty_mean": 0.002}},
            },
            "testing": {"mark": "s_testing", "times": [], "later": True},
        },
        "analyzers": [{
            "name": "n", "driver": "d", "role": "primary", "interval_ms": 1000, "extra": {"k": "v"},
            "comparison_accuracy": {"reading": 0.01, "resolution_watts": 0.1},
            "ranges": {"ranging": {"volts": None, "amps": None}}, "new_field": 1,
        }],
        "analyzer": {"name": "n", "driver": "d"},
        "system": {"nodes": [{"name": "a", "meters": ["d"]}], "switches": []},
        "reused_ranging": {"session": "/x"},
        "clock": {"method": "m", "offset_ns": -7, "ref_ns": 1, "drift_ppm": 2.5, "bound_ns": 3,
                  "batches": [{"when": "before ranging", "at_ns": 1, "offset_ns": 2, "bound_ns": 3,
                               "rounds": 4, "best_delay_ns": 5}],
                  "phases": {"testing": {"raw": stamps, "corrected": stamps}, "ranging": {"raw": stamps},
                             "elsewhere": {"raw": stamps, "corrected": stamps}},
                  "unknown": [1]},
        "reconnects": [{"analyzer": "d", "mark": "s_testing", "error": "e", "lost_t_ns": 1, "back_t_ns": 2,
                        "restarted": False}],
        "error": "boom", "samples": {"d": 3},
        "messages": [{"cmd": "new", "cmd_time": 1.0, "reply": "OK", "reply_time": 1.0}],
        "v3_phases": {"ranging": [[1.0, 2.0]], "testing": []},
        "from_the_future": {"anything": [None]},
    }
    path = tmp_path / "session.json"
    path.write_text(_text(data), encoding="utf-8")
    meta = assert_round_trips(path)
    assert meta.to_json() == data
    testing = meta.phase("testing")
    assert testing.correction is not None and testing.correction.raw is not None
    assert testing.correction.raw.begin_ns == 10 and meta.reconnects[0].restarted is False
    assert meta.phase("ranging").meters["plug"].clock is not None
    assert list(meta.corrections()) == ["testing", "ranging", "elsewhere"]  # the file's order


def test_a_correction_is_the_phases_own_and_a_newer_fit_recorrects_it() -> None:
    def plus(offset_ns: int) -> Any:
        return lambda t_ns: t_ns + offset_ns

    meta = SessionMeta.new(phases={}).with_phase("testing", SessionMeta().phase("testing").updated(mark="m"))
    meta = meta.with_correction("testing", WindowCorrection.of(1_000, 2_000, plus(5)))
    correction = meta.phase("testing").correction
    assert correction is not None and correction.corrected is not None
    assert correction.corrected.begin_ns == 1_005
    corrected = meta.with_clock(SessionMeta().clock or _fit(), plus(-5)).phase("testing").correction
    assert corrected is not None and corrected.corrected is not None and corrected.corrected.end_ns == 1_995


def _fit() -> Any:
    from analyzer_drivers.formats.session_meta import ClockRecord

    return ClockRecord.fit(method="m", offset_ns=5, ref_ns=0, drift_ppm=0.0, bound_ns=1, batches=())


def test_a_window_is_corrected_by_its_phase_and_only_the_window_that_was_corrected(
    loadgen_logs: dict[str, Path],
) -> None:
    from loadgen_bridge.detail_log import DETAIL_LOG, parse_detail_log

    window = parse_detail_log(loadgen_logs["Offline"] / DETAIL_LOG)
    meta = SessionMeta.new(phases={}).updated(clock=_fit())
    meta = meta.with_correction("testing", WindowCorrection.of(window.begin_ns, window.end_ns,
                                                               lambda t_ns: t_ns - 7))
    assert corrected_window(window, meta, "testing").begin_ns == window.begin_ns - 7
    assert corrected_window(window, meta, "testing_2") == window  # no correction of its own
    other = meta.with_correction("testing", WindowCorrection.of(1, 2, lambda t_ns: t_ns))
    assert corrected_window(window, other, "testing") == window  # another window's correction


@pytest.mark.parametrize("run_dir", RUNS, ids=[p.name for p in RUNS])
def test_a_real_submissions_imported_meta_is_the_json_it_always_was(run_dir: Path) -> None:
    """reports/mlperf_import builds a meta for a run we did not record (fixtures: published
    MLPerf runs, see tests/fixtures/real-submissions/README.md)."""
    _, run = import_run(run_dir)
    evidence = read_evidence(run_dir)
    single = (evidence.channels() or [1]) == [1] or evidence.channels() is None
    # Since issue 24: a single-channel run's meter facts, its crest factor as PTDaemon's log has it.
    crest_factor = evidence.ptd_log.crest_factor if evidence.ptd_log else None
    analyzer: dict[str, Any] = {
        "model": evidence.analyzer_model() if single else "",
        "name": evidence.identify().split(",")[0], "identify": evidence.identify(),
        # PTDaemon's version from its Identify reply (before: none, and the
        # mlperf_analyzer check said "PTDaemon version ''")
        "version": re.search(r",version=([^,]+)", evidence.identify()).group(1)}  # type: ignore[union-attr]
    if single:
        analyzer["extra"] = {**({"crest_factor": crest_factor} if crest_factor else {}), "elements": "1"}
    expected = {  # what reports/mlperf_import.ImportedRun.meta built as a dict before SessionMeta
        "session_name": run_dir.resolve().name,
        "phases": {phase: {"times": times} for phase, times in evidence.phases("client").items()},
        "analyzer": analyzer,
        "interval_ms": run.meta().interval_ms,
        "ranges": {"testing": evidence.testing_ranges() if single else {}},
    }
    built = run.meta().to_json()
    assert json.dumps(built) == json.dumps(expected)
    assert SessionMeta.from_json(built).to_json() == built


MALFORMED = {  # session.json's text → what the one-line error says
    "a list": ("[1, 2]", "session.json is a list, not an object"),
    "a mark number": ('{"phases": {"testing": {"mark": 3}}}',
                      "phases.testing.mark is a number, not a string"),
    "times text": ('{"phases": {"testing": {"times": "soon"}}}',
                   "phases.testing.times is a string, not a list"),
    "an empty stamp": ('{"phases": {"testing": {"times": [[]]}}}',
                       "phases.testing.times[0] is an empty list"),
    "interval text": ('{"interval_ms": "1000"}', "interval_ms is a string, not an integer"),
    "analyzers object": ('{"analyzers": {"driver": "x"}}', "analyzers is an object, not a list"),
    "clock offset float": ('{"clock": {"offset_ns": 1.5}}', "clock.offset_ns is a number, not an integer"),
    "reconnect flag": ('{"reconnects": [{"restarted": "yes"}]}', "reconnects[0].restarted is a string"),
    "samples bool": ('{"samples": {"ptd": true}}', "samples.ptd is true/false, not an integer"),
    "correction": ('{"clock": {"phases": {"testing": {"raw": 5}}}}',
                   "clock.phases.testing.raw is a number"),
    "not JSON": ('{"phases": ', "is not valid JSON"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_session_json_is_one_line(name: str, tmp_path: Path) -> None:
    text, expected = MALFORMED[name]
    (tmp_path / "session.json").write_text(text, encoding="utf-8")
    with pytest.raises(ReportError, match=expected.replace("[", r"\[").replace("]", r"\]")) as caught:
        read_session_meta(tmp_path)
    assert "\n" not in str(caught.value) and str(tmp_path / "session.json") in str(caught.value)


def test_the_cli_says_a_malformed_session_json_in_one_line(
    tmp_path: Path, demo_run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    _, out = demo_run
    session_dir = tmp_path / "session"
    shutil.copytree(next(p.parent for p in out.rglob("session.json")), session_dir)
    meta = json.loads((session_dir / "session.json").read_text())
    meta["phases"]["testing"]["times"] = "yesterday"
    (session_dir / "session.json").write_text(json.dumps(meta))
    result = run_cli("report", str(session_dir))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "phases.testing.times is a string, not a list" in lines[0], result.stderr
