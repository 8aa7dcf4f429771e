"""Whole sessions (ranging, testing, report) through three meters on the same simulated load.

The PTDaemon simulator, the SCPI (Yokogawa WT310) simulator over pyvisa-py and a Tasmota
plug simulator on a real mosquitto broker all follow one deterministic power model;
the three reports must agree within the meters' stated uncertainties.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.meters.nvml import NvmlAnalyzer
from analyzer_drivers.meters.plug_shelly import ShellyPlug
from analyzer_drivers.meters.plug_tasmota import TasmotaPlug
from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.meters.rapl import RaplAnalyzer
from analyzer_drivers.meters.specs import METERS, PLUGS
from analyzer_drivers.meters.yokogawa import YokogawaAnalyzer
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.plug import PlugSimulator
from analyzer_drivers.sim.ptd_server import PtdSimulator
from analyzer_drivers.sim.scpi_server import Wt300Simulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import AnalyzerConfig, Config, ConfigError, SessionConfig, config_from_dict
from power_director.config.meters.ptd import PtdConfig
from power_director.config.meters.tasmota import TasmotaConfig
from power_director.config.meters.yokogawa import YokogawaConfig
from power_director.session.session import Session
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

WATTS, VOLTS, PF = 150.3, 229.8, 0.97
INTERVAL_MS = 250
MODEL = constant_model(WATTS, volts=VOLTS, pf=PF)
POWER_CHECKS = {
    f"{phase}_{check}" for phase in ("ranging", "testing")
    for check in ("samples_in_window", "window_inside_measurement")
} | {"testing_power_vs_ranging"}

Meter = Callable[[], AbstractAsyncContextManager[AnalyzerConfig]]


@asynccontextmanager
async def ptd_meter() -> AsyncIterator[AnalyzerConfig]:
    simulator = PtdSimulator(model=MODEL, averaging_ms=INTERVAL_MS)
    port = await simulator.start_server()
    try:
        yield PtdConfig(port=port, interval_ms=INTERVAL_MS, connect_timeout_s=5.0)
    finally:
        await simulator.close()


@asynccontextmanager
async def scpi_meter() -> AsyncIterator[AnalyzerConfig]:
    simulator = Wt300Simulator(MODEL, "wt310")
    port = await simulator.start_server()
    try:
        yield YokogawaConfig(
            resource=f"TCPIP::127.0.0.1::{port}::SOCKET", interval_ms=INTERVAL_MS
        )
    finally:
        await simulator.close()


def plug_meter(broker: Mosquitto) -> Meter:
    @asynccontextmanager
    async def meter() -> AsyncIterator[AnalyzerConfig]:
        simulator = PlugSimulator("127.0.0.1", broker.port, "tasmota", "three-1", MODEL, period_s=0.2)
        task = asyncio.get_running_loop().create_task(simulator.run())
        await asyncio.wait_for(simulator.ready.wait(), 5)
        try:
            yield TasmotaConfig(
                broker=broker.address, topic="three-1", interval_ms=INTERVAL_MS,
                connect_timeout_s=5.0, reply_timeout_s=3.0,
            )
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    return meter


def run_session(meter: Meter, out: Path, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with meter() as analyzer_config:
            config = Config(
                analyzer=analyzer_config, session=SessionConfig(settle_s=0.1, poll_interval_s=0.25)
            )
            workload = InProcessLoadgen(CpuBenchmark("SingleStream", 1.5, accelerator=True))
            session = Session(
                config, make_analyzer(config.analyzer), workload, out_root=out, label=label,
                say=lambda _: None,
            )
            report = (await session.run()).to_json()
            meta = json.loads((session.dir / "session.json").read_text())
            return report, meta

    return asyncio.run(main())


@pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)
def test_three_meters_agree_on_one_simulated_load(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        results = {
            "ptd": run_session(ptd_meter, tmp_path, "ptd"),
            "yokogawa": run_session(scpi_meter, tmp_path, "yokogawa"),
            "tasmota": run_session(plug_meter(broker), tmp_path, "tasmota"),
        }
    finally:
        broker.stop()

    uncertainty = {}
    for name, (report, meta) in results.items():
        assert meta["status"] == "completed", (name, meta.get("error"))
        # What LoadGen does (early stopping, run length) depends on how busy this machine is;
        # the checks on the power measurement itself must all pass.
        power_checks = {c["name"]: c["status"] for c in report["checks"] if c["name"] in POWER_CHECKS}
        assert power_checks == dict.fromkeys(POWER_CHECKS, "pass"), name
        testing = report["testing"]["power"]
        assert testing["samples_in_window"] >= 3, name
        ranges = meta["ranges"]["testing"]
        if name == "tasmota":
            uncertainty[name] = PLUGS["tasmota"].sample_uncertainty(testing["avg_watts"])
        else:
            spec = METERS[meta["analyzer"]["model"]]
            assert (ranges["volts"], ranges["amps"]) == (300.0, 1.0)  # 229.8 V; 1.1 × 0.674 A
            uncertainty[name] = spec.sample_uncertainty(testing["avg_watts"], ranges["volts"], ranges["amps"])
    assert results["yokogawa"][1]["analyzer"]["model"] == "WT310"

    watts = {name: report["testing"]["power"]["avg_watts"] for name, (report, _) in results.items()}
    for name, value in watts.items():
        assert abs(value - WATTS) <= uncertainty[name] * WATTS, (name, value)
    names = sorted(watts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert abs(watts[a] - watts[b]) <= uncertainty[a] * watts[a] + uncertainty[b] * watts[b], (a, b)


# --- configuration -----------------------------------------------------------------------------
def test_each_type_selects_its_driver() -> None:
    def build(**analyzer: Any) -> object:
        return make_analyzer(config_from_dict({"analyzer": analyzer}).analyzer)

    assert isinstance(build(), PtdAnalyzer)  # the old default still works
    assert isinstance(build(type="ptd", host="10.0.0.2", port=8888), PtdAnalyzer)
    yokogawa = build(type="yokogawa", resource="USB0::0x0B21::0x0025::C2PH13047V::INSTR", element="1")
    assert isinstance(yokogawa, YokogawaAnalyzer)
    assert isinstance(build(type="tasmota", broker="mqtt.lab:1883", topic="plug1"), TasmotaPlug)
    assert isinstance(build(type="shelly", broker="10.0.0.9:1883", topic="shellyplug-1"), ShellyPlug)
    assert isinstance(build(type="rapl", rapl_domains="package,dram"), RaplAnalyzer)
    assert isinstance(build(type="nvml", gpu_index=0), NvmlAnalyzer)


WT = {"type": "yokogawa", "resource": "TCPIP::h::INSTR"}


@pytest.mark.parametrize(
    ("analyzer", "message"),
    [
        ({"type": "wattsup"}, r"type 'wattsup' is not known; use one of ptd, yokogawa, tasmota"),
        ({"type": "yokogawa"}, r"type 'yokogawa' needs resource"),
        ({"type": "yokogawa", "resource": "COM3"}, r"resource 'COM3' is not a VISA resource string"),
        ({**WT, "model": "WT5000"}, r"model 'WT5000' is not known"),
        ({**WT, "interval_ms": 200}, r"not a WT300E update interval"),
        ({**WT, "crest_factor": 4}, r"crest_factor 4 must be 3 or 6"),
        ({**WT, "element": "4"}, r"element '4' must be"),
        ({"type": "tasmota", "topic": "p", "broker": "h:0"}, r"broker 'h:0' is not HOST:PORT"),
        ({"type": "shelly", "broker": "h:1883"}, r"type 'shelly' needs topic"),
        ({"type": "rapl", "rapl_root": "sys/class/powercap"}, r"rapl_root .* must be an absolute path"),
        ({"type": "nvml", "gpu_index": -2}, r"gpu_index -2 must be -1"),
        ({"type": "tasmota", "topic": 7}, r"topic must be a string, not int 7"),
        ({"type": "ptd", "brokr": "h:1"}, r"unknown key .brokr. \(did you mean .broker.\?\)"),
    ],
)
def test_config_errors_are_one_clear_line(analyzer: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        config_from_dict({"analyzer": analyzer})
    assert "\n" not in str(caught.value)
