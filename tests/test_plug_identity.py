"""A plug reads as the plug it says it is: a whole session (real mosquitto, the plug simulator
answering with a real device's identify replies, tests/fixtures/plug_real.py) puts the vendor,
model, firmware and id the device reported in report.json's analyzer section and in the
submission's analyzer_table.md."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.meters.plug_tasmota import tasmota_identity
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.plug import PlugSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import Config, SessionConfig, config_from_dict
from power_director.session.session import Session
from reports.mlperf.submission import analyzer_table
from tests.fixtures import plug_real as real
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason=MISSING_REASON)

# (plug kind, topic, component, identify replies, expected: vendor, model, firmware, id, name)
CASES = {
    "tasmota": ("tasmota", "tasmota/sp111-01", "switch:0",
                {"STATUS": real.TASMOTA_STATUS, "STATUS2": real.TASMOTA_STATUS2,
                 "STATUS5": real.TASMOTA_STATUS5},
                ("Tasmota", "Tasmota", "8.1.0.4(022a6a0-tasmota)", "5C:CF:7F:79:EE:06", "Gosund SP111 - 1")),
    "shelly-gen3-plug": ("shelly", "shellyplugsg3-543204663204", "switch:0",
                         {"GetDeviceInfo": real.SHELLY_PLUG_S_G3_INFO},
                         ("Shelly", "S3PL-00112EU", "1.2.3-matter22", "543204663204", None)),
    "shelly-plus-1": ("shelly", "shellyplus1-c4dd57877294", "switch:0",
                      {"GetDeviceInfo": real.SHELLY_PLUS_1_INFO},
                      ("Shelly", "SNSW-001X16EU", "0.9.3", "C4DD57877294", None)),
    "shelly-gen1-plug-s": ("shelly", "shelly-diskmaskin", "relay:0",
                           {"announce": real.SHELLY_GEN1_ANNOUNCE},
                           ("Shelly", "SHPLG-S", "20230913-113421/v1.14.0-gcb84623", "3C6105DE91AE", None)),
}


def run_session(tmp_path: Path, broker: Mosquitto, case: str) -> tuple[dict[str, Any], SessionMeta]:
    kind, topic, component, replies, _ = CASES[case]

    async def main() -> tuple[dict[str, Any], SessionMeta]:
        simulator = PlugSimulator("127.0.0.1", broker.port, kind, topic, constant_model(120.0, pf=0.9),
                                  period_s=0.2, component=component)
        simulator.identity_replies.update({key: json.loads(text) for key, text in replies.items()})
        task = asyncio.get_running_loop().create_task(simulator.run())
        try:
            await asyncio.wait_for(simulator.ready.wait(), 5)
            config = Config(
                analyzer=config_from_dict({"analyzer": {
                    "type": kind, "broker": broker.address, "topic": topic, "interval_ms": 250,
                    **({"shelly_component": component} if kind == "shelly" else {}),
                    "connect_timeout_s": 5.0, "reply_timeout_s": 3.0}}).analyzer,
                session=SessionConfig(settle_s=0.1, poll_interval_s=0.25))
            session = Session(config, make_analyzer(config.analyzer),
                              InProcessLoadgen(CpuBenchmark("SingleStream", 1.0, accelerator=True)),
                              out_root=tmp_path, label=case.replace("-", "_"), say=lambda _: None)
            report = (await session.run()).to_json()
            return report, SessionMeta.from_json(json.loads((session.dir / "session.json").read_text()))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    return asyncio.run(main())


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_report_names_the_plug_as_it_named_itself(tmp_path: Path, case: str) -> None:
    broker = Mosquitto(tmp_path).start()
    try:
        report, meta = run_session(tmp_path, broker, case)
    finally:
        broker.stop()
    vendor, model, firmware, device_id, name = CASES[case][4]
    assert meta.status == "completed", meta.error
    analyzer = report["analyzer"]
    assert (analyzer["vendor"], analyzer["model"], analyzer["firmware"], analyzer["serial"]) == (
        vendor, model, firmware, device_id)
    if name is not None:
        assert analyzer["name"] == name
    table = analyzer_table(meta)
    for row in (f"| Vendor | {vendor} |", f"| Model | {model} |", f"| Firmware | {firmware} |",
                f"| Serial number | {device_id} |", "| PTDaemon version | n/a (not through PTDaemon) |"):
        assert row in table, table


def test_tasmota_identity_takes_each_reply_for_what_it_says() -> None:
    replies = {"STATUS2": json.loads(real.TASMOTA_STATUS2), "STATUS": json.loads(real.TASMOTA_STATUS)}
    name, identity, facts = tasmota_identity(replies)
    # Boot (31) is a boot counter and Core (2_6_1) the ESP8266 Arduino core: neither is an id or
    # the firmware; with no STATUS5 the id stays unknown.
    assert (name, identity.firmware, identity.serial) == ("Gosund SP111 - 1", "8.1.0.4(022a6a0-tasmota)", "")
    assert facts == {"core": "2_6_1", "sdk": "2.2.2-dev(38a443e)", "hardware": "ESP8285", "module": "0"}
