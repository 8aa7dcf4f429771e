"""A multi-node system of local meters (two PTDaemon simulators, one per node) and an estimated
switch: the per-node breakdown, the budget, and a meter that belongs to no node.

The estimate (max spec power × provisioning ratio, marked estimated) is what MLPerf Training's
power rules allow for interconnects:
mlcommons/training_policies power_measurement.adoc @ 2ddbe8a49d6bbf3e2d8215c7ec750c0f4f21d256,
"Measure or Estimate Interconnects" and "Scoring" item 2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import ConfigError, config_from_dict
from power_director.session.session import ExtraMeter, Session
from reports.model.report import SessionReport
from reports.multinode import system_checks
from reports.render.summary import summary_text
from reports.system_model import SystemSection

System = Callable[[list[str]], dict[str, Any]]


def _session(tmp_path: Path, system: System) -> tuple[dict[str, Any], dict[str, Any]]:
    """A session over two PTDaemon simulators (400 W and 250 W); ``system`` gets their driver names."""
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        sims = [PtdSimulator(model=constant_model(w), averaging_ms=250) for w in (400.0, 250.0)]
        ports = [await s.start_server() for s in sims]
        meters = [{"type": "ptd", "port": p, "interval_ms": 250, "connect_timeout_s": 5.0} for p in ports]
        try:
            config = config_from_dict({
                "analyzer": meters[0], "extra_analyzer": [{**meters[1], "role": "sum"}],
                "session": {"settle_s": 0.1, "poll_interval_s": 0.25},
                **system([f"ptd-127.0.0.1-{p}" for p in ports]),
            })
            session = Session(
                config, make_analyzer(config.analyzer),
                InProcessLoadgen(CpuBenchmark("Offline", 2.0, accelerator=True)),
                out_root=tmp_path, say=lambda _: None,
                extra_analyzers=[ExtraMeter(make_analyzer(e.meter), e.role) for e in config.extra_analyzers],
            )
            report = (await session.run()).to_json()
            return report, json.loads((session.dir / "session.json").read_text())
        finally:
            for sim in sims:
                await sim.close()

    return asyncio.run(main())


def test_local_meters_per_node_and_an_estimated_switch(tmp_path: Path) -> None:
    report, meta = _session(tmp_path, lambda names: {
        "node": [{"name": "gpu1", "meters": [names[0]]}, {"name": "gpu2", "meters": [names[1]]}],
        "switch": [{"name": "ib", "max_spec_watts": 300.0, "provisioning_ratio": 0.5}],
    })
    section = report["system"]
    assert section["nodes"]["gpu1"]["avg_watts"] == pytest.approx(400.0, rel=0.005)
    assert section["nodes"]["gpu2"]["avg_watts"] == pytest.approx(250.0, rel=0.005)
    assert section["switches"]["ib"]["estimated"] is True
    assert section["avg_watts"] == pytest.approx(400.0 + 250.0 + 150.0, rel=0.005)
    assert section["measured_watts"] == pytest.approx(report["testing"]["power"]["avg_watts"], rel=0.002)
    assert section["energy_j"] == pytest.approx(section["avg_watts"] * section["duration_s"])
    assert "energy_per_query_mj" not in section  # Offline: average watts is the metric
    terms = section["meters"][meta["analyzer"]["driver"]]["terms_watts"]
    assert terms["analyzer"] > 0 and terms["missing_samples"] == 0.0
    assert {c["name"]: c["status"] for c in report["checks"]}["system_uncertainty"] == "pass"
    assert SessionReport.from_json(report).to_json() == report  # the typed system section reads back
    text = summary_text(SessionReport.from_json(report))
    assert "  system: " in text and "    node gpu1: " in text
    assert "    switch ib: 150.00 W (estimated)" in text


def test_a_measured_meter_outside_every_node_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^meter\(s\) ptd-127\.0\.0\.1-\d+ belong to no \[\[node\]\]"):
        _session(tmp_path, lambda names: {"node": [{"name": "gpu1", "meters": [names[0]]}]})
    with pytest.raises(ConfigError, match=r"name meter\(s\) the session does not measure .*: ghost"):
        _session(tmp_path, lambda names: {"node": [{"name": "gpu1", "meters": [*names, "ghost"]}]})


def test_system_checks_say_unknown_or_fail() -> None:
    budget = {"relative": 0.02, "limit": 0.01, "complete": True}
    base: dict[str, Any] = {"avg_watts": 100.0, "uncertainty": budget}
    assert system_checks(SystemSection.from_json(base))[0].status == "fail"
    incomplete = {**base, "uncertainty": {**base["uncertainty"], "complete": False}}
    assert system_checks(SystemSection.from_json(incomplete))[0].status == "unknown"
    assert system_checks(None) == []
