"""A session with several analyzers: two supplies summed by time, and a meter beside them."""

from __future__ import annotations

import asyncio
import json
from html import escape
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.session_layout import read_session_meta
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.files import rebuild_session_files
from power_director.session.session import ExtraMeter, Session, SessionError
from reports.model.report import SessionReport
from reports.render.summary import summary_text
from reports.spl import read_spl
from tests.file_opens import counted_opens


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("multi")

    async def main() -> Path:
        sims = [PtdSimulator(model=constant_model(w), identity="wt310") for w in (100.0, 150.0, 40.0)]
        ports = [await sim.start_server() for sim in sims]
        # 400 ms over 3 s: three simulators share the session's event loop, and at 200 ms over 1.5 s
        # one stall on a busy machine cost the merged sum its 95 % coverage (88.6 % seen)
        config = Config(PtdConfig(port=ports[0], interval_ms=400), SessionConfig(settle_s=0.1))
        meters = [PtdAnalyzer("127.0.0.1", port) for port in ports]
        try:
            session = Session(
                config, meters[0], InProcessLoadgen(CpuBenchmark("Offline", 3.0, accelerator=True)),
                out_root=out, label="two-supplies", say=lambda _: None,
                extra_analyzers=[ExtraMeter(meters[1], "sum"), ExtraMeter(meters[2], "beside")],
            )
            await session.run()
            return session.dir
        finally:
            for sim in sims:
                await sim.close()

    return asyncio.run(main())


def report_of(session: Path) -> dict[str, Any]:
    return json.loads((session / "report.json").read_text())


def test_supplies_are_summed_by_time(session_dir: Path) -> None:
    report = report_of(session_dir)
    assert report["valid"], report["problems"]
    assert report["power"]["avg_watts"] == pytest.approx(250.0, rel=0.01)
    line = (session_dir / "run_1" / "spl.txt").read_text().splitlines()[3]
    assert ",Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark," in line
    assert ",Ch1,Watts,100." in line and ",Ch2,Watts,150." in line


def test_a_rebuild_reads_each_summed_journal_once(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spl = session_dir / "run_1" / "spl.txt"
    written = spl.read_bytes()
    meta = read_session_meta(session_dir)
    raws = {a.role: (session_dir / "raw" / f"{a.driver}.samples.txt").resolve() for a in meta.analyzers}
    with counted_opens(monkeypatch) as opens:
        rebuild_session_files(session_dir, meta)
    assert {role: opens[path] for role, path in raws.items()} == {"primary": 1, "sum": 1, "beside": 0}
    assert spl.read_bytes() == written


def test_each_summed_supply_is_reported_and_they_add_up_to_the_headline(session_dir: Path) -> None:
    """report.json, the summary and the page list every supply of the sum (issue 15): each alone
    in the testing window, and together the headline within its stated uncertainty."""
    report = report_of(session_dir)
    supplies = report["sum"]
    meta = json.loads((session_dir / "session.json").read_text())
    assert [(s["role"], s["driver"]) for s in supplies] == [
        (a["role"], a["driver"]) for a in meta["analyzers"] if a["role"] in ("primary", "sum")]
    assert [s["avg_watts"] for s in supplies] == pytest.approx([100.0, 150.0], rel=0.01)
    assert all(s["interval_ms"] > 0 and s["gap_s"] == 0.0 for s in supplies)
    watts_bound = report["uncertainty"]["watts"]
    assert watts_bound > 0
    assert abs(sum(s["avg_watts"] for s in supplies) - report["power"]["avg_watts"]) <= watts_bound
    energy_bound = report["uncertainty"]["relative"] * report["power"]["energy_j"]
    assert abs(sum(s["energy_j"] for s in supplies) - report["power"]["energy_j"]) <= energy_bound
    typed = SessionReport.read(session_dir / "report.json")
    assert typed.to_json() == report
    text = summary_text(typed)
    for supply in supplies:
        assert (f"supply {supply['name']} ({supply['driver']}, {supply['role']}, "
                f"every {supply['interval_ms']} ms): {supply['avg_watts']:.2f} W") in text
    page = (session_dir / "report.html").read_text()
    assert "supplies summed into the wall power" in page
    assert all(escape(f"{s['name']} ({s['driver']})") in page for s in supplies)


def test_each_meter_keeps_its_raw_samples_and_ranges(session_dir: Path) -> None:
    meta = json.loads((session_dir / "session.json").read_text())
    roles = [a["role"] for a in meta["analyzers"]]
    assert roles == ["primary", "sum", "beside"]
    for analyzer in meta["analyzers"]:
        assert len(read_spl(session_dir / "raw" / f"{analyzer['driver']}.samples.txt")) > 10
    assert meta["analyzers"][1]["ranges"]["testing"]["amps"] == 1.0  # 150 W / 230 V × 1.1
    assert meta["analyzers"][2]["ranges"]["testing"] == {"volts": None, "amps": None}


def test_beside_meter_is_reported_not_added(session_dir: Path) -> None:
    beside = report_of(session_dir)["beside"]
    (entry,) = beside.values()
    assert entry["avg_watts"] == pytest.approx(40.0, rel=0.01)
    assert entry["share_of_wall"] == pytest.approx(40.0 / 250.0, rel=0.02)


def test_duplicate_analyzers_are_refused(tmp_path: Path) -> None:
    meter = PtdAnalyzer("127.0.0.1", 1)
    with pytest.raises(SessionError, match="share a name"):
        Session(Config(), meter, InProcessLoadgen(CpuBenchmark("Offline", 1)), out_root=tmp_path,
                extra_analyzers=[ExtraMeter(PtdAnalyzer("127.0.0.1", 1), "sum")])
