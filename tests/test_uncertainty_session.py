"""The ± a whole session's report prints is the one Yokogawa's specification gives: a WT333E's Σ
reading, its element 1 at crest factor 6, and an original WT310, each measured through the SCPI
simulator over pyvisa-py by a real session (ranging, testing, report).

The expected figures are worked here from the manuals' text, not from our code:
- IM WT310E-02EN §7.3.2 "Active Power Accuracy" (WT310E/WT332E/WT333E, 45 Hz ≤ f ≤ 66 Hz):
  ±(0.1 % of reading + 0.05 % of range); power factor influence at λ = 0: ±0.1 % of S;
  for 0 < λ < 1: (power reading) × [(power reading error %) + (power range error %) ×
  (power range / indicated apparent power value) + {tan φ × (influence when λ = 0) %}];
  "Accuracy when the crest factor is set to 6 or 6A: Accuracy obtained by doubling the
  measurement range error for the accuracy when the crest factor is set to 3."
- IM WT310-02EN §7.3.2 (the original WT310/WT332/WT333): ±(0.1 % of reading + 0.1 % of range),
  ±0.2 % of S at λ = 0, the same λ formula.
- Σ: the WT300/WT300E manuals give no accuracy for a Σ reading; the conservative rule is the sum
  of each element's error (docs/uncertainty.md).
- Ranges: IM WT310E-01EN 2.x "Current Range": WT332E/WT333E at crest factor 3: 20 A … 0.5 A
  (2 A among them); at 6 or 6A: 10, 5, 2.5, 1, 0.5, 0.25 A. Voltage ranges 15 … 600 V at
  crest factor 3, halved at 6 (300 V among them). MLPerf's testing ranges: the largest volts,
  1.1 × the largest amps seen in ranging, snapped up.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.session_layout import phase_dir
from analyzer_drivers.meters.accuracy import MeterSetup
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.scpi_server import Wt300Simulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.yokogawa import YokogawaConfig
from power_director.session.session import Session

VOLTS = 230.0
WT300E = {"reading": 0.001, "range": 0.0005, "at_zero_pf": 0.001}  # IM WT310E-02EN §7.3.2
WT300 = {"reading": 0.001, "range": 0.001, "at_zero_pf": 0.002}  # IM WT310-02EN §7.3.2


def manual_error_watts(spec: dict[str, float], watts: float, volts_range: float, amps_range: float,
                       pf: float, crest_factor: int = 3) -> float:
    """The manual's formula for one element: P × [reading % + range % × (power range / S) +
    tan φ × (influence at λ = 0)], S = P / λ; the range error doubled at crest factor 6."""
    power_range = volts_range * amps_range
    range_error = spec["range"] * (2 if crest_factor == 6 else 1)
    apparent = watts / pf
    tan_phi = math.tan(math.acos(pf))
    return watts * (spec["reading"] + range_error * power_range / apparent + tan_phi * spec["at_zero_pf"])


def run_session(tmp_path: Path, simulator: Wt300Simulator, **analyzer: Any
                ) -> tuple[dict[str, Any], dict[str, Any], Path]:
    async def main() -> tuple[dict[str, Any], dict[str, Any], Path]:
        port = await simulator.start_server()
        try:
            config = Config(
                analyzer=YokogawaConfig(resource=f"TCPIP::127.0.0.1::{port}::SOCKET",
                                        interval_ms=250, **analyzer),
                session=SessionConfig(settle_s=0.1, poll_interval_s=0.25))
            workload = InProcessLoadgen(CpuBenchmark("SingleStream", 1.0, accelerator=True))
            session = Session(config, make_analyzer(config.analyzer), workload, out_root=tmp_path,
                              label="u", say=lambda _: None)
            report = (await session.run()).to_json()
            meta = json.loads((session.dir / "session.json").read_text())
            return report, meta, session.dir
        finally:
            await simulator.close()

    return asyncio.run(main())


def analyzer_watts(report: dict[str, Any]) -> float:
    uncertainty = report["testing"]["power"]["uncertainty"]
    return float(uncertainty["terms_watts"]["analyzer"])


def test_a_wt333e_sum_reports_the_sum_of_its_elements_errors(tmp_path: Path) -> None:
    watts, loads = 670.0, ((0.45, 0.95), (0.35, 0.90), (0.20, 0.85))  # (share of watts, λ)
    simulator = Wt300Simulator(constant_model(watts, volts=VOLTS), "wt333e", update_interval_s=0.25)
    simulator.loads = loads
    report, meta, session_dir = run_session(tmp_path, simulator, element="sum")
    assert meta["status"] == "completed", meta.get("error")
    # Largest element: 301.5 W / (230 V × 0.95) = 1.380 A; × 1.1 = 1.52 A → the 2 A range.
    assert meta["ranges"]["testing"] == {"volts": 300.0, "amps": 2.0}
    elements = [(watts * share, pf) for share, pf in loads]
    expected_w = sum(manual_error_watts(WT300E, p, 300.0, 2.0, pf) for p, pf in elements)
    assert analyzer_watts(report) == pytest.approx(expected_w, rel=2e-3)
    assert report["testing"]["power"]["uncertainty"]["analyzer_source"].startswith(
        "WT333E Σ of elements 1, 2, 3 accuracy spec at crest factor 3")
    # One element's range term at λΣ (what the report printed before) is far short of it.
    lambda_sum = watts / sum(p / pf for p, pf in elements)
    one_element_w = manual_error_watts(WT300E, watts, 300.0, 2.0, lambda_sum)
    assert analyzer_watts(report) > 1.3 * one_element_w  # 1.78 W against 1.25 W
    # spl.txt keeps λΣ on the sum and each element's λ in its channel group.
    line = next(line for line in (session_dir / phase_dir("testing") / "spl.txt").read_text().splitlines()
                if line.startswith("Time"))
    fields = line.split(",")
    assert float(fields[9]) == pytest.approx(lambda_sum, abs=1e-3)
    channel_pfs = [float(fields[i + 8]) for i, f in enumerate(fields) if f.startswith("Ch")]
    assert channel_pfs == pytest.approx([pf for _, pf in loads], abs=1e-4)


def test_element_1_at_crest_factor_6_doubles_the_range_error(tmp_path: Path) -> None:
    # Three equal elements: element 1 takes 150 W at λ 0.9 (0.725 A).
    simulator = Wt300Simulator(constant_model(450.0, volts=VOLTS, pf=0.9), "wt333e", update_interval_s=0.25)
    report, meta, _ = run_session(tmp_path, simulator, element="1", crest_factor=6)
    assert meta["status"] == "completed", meta.get("error")
    assert meta["analyzer"]["extra"]["crest_factor"] == "6"
    # 0.725 A × 1.1 = 0.797 A → the 1 A range at crest factor 6; 230 V → 300 V.
    assert meta["ranges"]["testing"] == {"volts": 300.0, "amps": 1.0}
    expected_w = manual_error_watts(WT300E, 150.0, 300.0, 1.0, 0.9, crest_factor=6)
    assert analyzer_watts(report) == pytest.approx(expected_w, rel=2e-3)
    at_cf3_w = manual_error_watts(WT300E, 150.0, 300.0, 1.0, 0.9)
    assert analyzer_watts(report) > 1.2 * at_cf3_w


def test_an_original_wt310_reports_its_own_accuracy(tmp_path: Path) -> None:
    simulator = Wt300Simulator(constant_model(150.3, volts=VOLTS, pf=0.97), "wt310", update_interval_s=0.25)
    report, meta, _ = run_session(tmp_path, simulator)
    assert meta["status"] == "completed", meta.get("error")
    assert meta["analyzer"]["model"] == "WT310"
    # 150.3 W / (230 V × 0.97) = 0.674 A; × 1.1 = 0.741 A → the 1 A range.
    assert meta["ranges"]["testing"] == {"volts": 300.0, "amps": 1.0}
    expected_w = manual_error_watts(WT300, 150.3, 300.0, 1.0, 0.97)
    assert analyzer_watts(report) == pytest.approx(expected_w, rel=2e-3)


# --- an imported MLPerf run --------------------------------------------------------------------
FIXTURES = Path(__file__).parent / "fixtures" / "real-submissions"


@pytest.mark.parametrize(
    ("run", "source"),
    [  # v2.0 Krai: a WT310E; its ptd_logs.txt has PTDaemon's ":CFAC?;…" answered "3;500.0E-03;…".
        ("v2.0_Krai_rpi4-tflite-v2.7.1-ruy_resnet50_multistream", "WT310E accuracy spec at crest factor 3 "
         "and the ranges in use"),
    ],
)
def test_an_imported_run_reads_its_crest_factor_from_ptdaemons_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run: str, source: str
) -> None:
    from power_director.cli.app import main
    from reports.mlperf.evidence import read_evidence

    copy = tmp_path / run
    shutil.copytree(FIXTURES / run, copy)
    evidence = read_evidence(copy)
    assert evidence.ptd_log is not None and evidence.ptd_log.crest_factor == "3"
    main(["report", str(copy), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["testing"]["power"]["uncertainty"]["analyzer_source"] == source


def test_a_run_without_the_crest_factor_says_it_took_3() -> None:
    setup = MeterSetup.recorded("WT310E", {})
    assert setup is not None
    assert setup.describe() == (
        "WT310E accuracy spec at crest factor 3 and the ranges in use; not recorded: "
        "crest factor (taken as 3), elements (taken as one, or the channels in spl.txt)")


def test_a_real_multichannel_spl_gives_each_elements_reading_to_the_sum_rule() -> None:
    """v2.0 NVIDIA A100 Server run_1/spl.txt: PTDaemon 1.9's Σ group (Volts/Amps/PF -1) and one
    group per channel with its own λ; the Σ ± is the sum of each channel's error by the manual."""
    from analyzer_drivers.formats.sample import Sample
    from reports.spl import read_spl, with_channels

    path = FIXTURES / "v2.0_NVIDIA_A100-PCIe-80GBx8_TRT_MaxQ_bert-99.9_Server" / "run_1" / "spl.txt"
    series = with_channels(path, read_spl(path))
    assert series.channels is not None and len(series.channels) == len(series)
    first = series.samples()[0]
    # Time,…,Watts,650.2,Volts,-1,Amps,-1,PF,-1,Mark,…,Ch1,Watts,200.7,Volts,205.92,Amps,1.0678,PF,0.9126,…
    assert (first.watts, first.pf) == (650.2, -1.0)
    assert [c.watts for c in first.channels] == [200.7, 269.3, 180.2]
    assert sum(c.watts for c in first.channels) == pytest.approx(first.watts)
    setup = MeterSetup.recorded("WT333E", {"crest_factor": "3", "elements": "1,2,3"})
    assert setup is not None
    expected_w = sum(manual_error_watts(WT300E, c.watts, 300.0, 2.0, c.pf) for c in first.channels)
    assert setup.sample_uncertainty(first, 300.0, 2.0) * first.watts == pytest.approx(expected_w)
    # Without its channels the λ are unknown: each element's range term at λ = 1.
    bare = Sample(first.t_ns, first.watts, pf=first.pf)
    assert setup.sample_uncertainty(bare, 300.0, 2.0) * first.watts == pytest.approx(
        0.001 * 650.2 + 3 * 0.0005 * 300.0 * 2.0)
