"""A real Prometheus scrapes the director's exporter during a session and a meter agent's exporter;
every query of the Grafana dashboard in examples/ runs against it.

The dashboard is Grafana's "Classic" dashboard JSON model (grafana.com/docs/grafana/latest/
visualizations/dashboards/build-dashboards/view-dashboard-json-model/: ``uid``, ``title``,
``panels`` with ``targets``, ``schemaVersion``); a Prometheus target's query is its ``expr``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import config_from_dict
from power_director.observe.exporter import DirectorExporter
from power_director.session.session import Session
from tests.fleet_util import ROOT, agent_toml, start_agent, stop_agents
from tests.mqtt_broker import MOSQUITTO, Mosquitto, free_port
from tests.prometheus_server import MISSING_REASON, PROMETHEUS, Prometheus

pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason=MISSING_REASON),
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt-get install -y mosquitto)"),
]


def test_prometheus_scrapes_director_and_agent(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path).start()
    agent_port = free_port()
    toml = agent_toml("p1", broker.address, tmp_path / "journal", [("psu1", 180.0)],
                      clock_shift_ms=700.0, metrics_port=agent_port)
    agent = start_agent(tmp_path, "p1", toml)
    exporter = DirectorExporter()
    prometheus = Prometheus(tmp_path, [f"127.0.0.1:{exporter.port}", f"127.0.0.1:{agent_port}"])
    config = config_from_dict({
        "analyzer": {"type": "mqtt-stream", "broker": broker.address, "topic": "p1/psu1", "interval_ms": 500,
                     "connect_timeout_s": 20.0},
        "session": {"settle_s": 0.5, "poll_interval_s": 0.25},
    })
    try:
        prometheus.start()
        analyzer = make_analyzer(config.analyzer)
        exporter.watch([analyzer])
        session = Session(config, analyzer, InProcessLoadgen(CpuBenchmark("Offline", 3.0, accelerator=True)),
                          out_root=tmp_path, say=lambda _: None, observers=[exporter])
        asyncio.run(session.run())
        up = prometheus.wait_query('count(up{job="power-director"} == 1) == 2')
        completed = prometheus.wait_query('power_director_session_state{state="completed"} == 1')
        testing = prometheus.query('max_over_time(power_director_session_state{state="testing"}[5m])')
        watts = prometheus.wait_query("power_director_meter_watts")
        received = prometheus.wait_query("power_director_samples_received_total")
        lost = prometheus.wait_query("power_director_samples_lost_total")
        offset = prometheus.wait_query("power_director_clock_offset_seconds")
        agent_samples = prometheus.wait_query("power_director_agent_samples_total")
        connected = prometheus.wait_query("power_director_agent_broker_connected")
        energy = prometheus.wait_query("power_director_energy_joules_total")
        agent_labels = prometheus.api("query", query="power_director_agent_samples_total")["result"]
        dashboard = {expr: prometheus.wait_query(expr) for expr in dashboard_queries()}
        # Counters never went down while Prometheus watched (ranging, testing: the per-phase
        # losses and receipts of each meter are added up, not reset).
        resets = prometheus.query("resets(power_director_samples_received_total[5m]) + "
                                  "resets(power_director_samples_lost_total[5m]) + "
                                  "resets(power_director_energy_joules_total[5m])")
    finally:
        prometheus.stop()
        exporter.close()
        stop_agents([agent])
        broker.stop()
    assert up == {"": 2.0}  # both targets scraped
    assert completed and testing == {"testing": 1.0}
    assert watts["stream-p1-psu1"] == pytest.approx(180.0, rel=0.03)
    assert received["stream-p1-psu1"] >= 6
    assert lost == {"stream-p1-psu1": 0.0}
    assert offset["stream-p1-psu1"] == pytest.approx(0.7, abs=0.05)
    assert agent_samples["psu1"] >= received["stream-p1-psu1"]
    assert connected == {"": 1.0}
    assert [r["metric"]["agent"] for r in agent_labels] == ["p1"]
    # The energy counter integrates what was received: about 180 W over the samples' span.
    assert energy["stream-p1-psu1"] == pytest.approx(180.0 * (received["stream-p1-psu1"] - 1) * 0.5, rel=0.1)
    assert resets == {"stream-p1-psu1": 0.0}
    assert all(dashboard.values())


def dashboard_queries() -> list[str]:
    """Every PromQL query of examples/grafana-fleet-dashboard.json, after checking its shape."""
    dashboard: dict[str, Any] = json.loads((ROOT / "examples" / "grafana-fleet-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    queries = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        queries += [target["expr"] for target in panel["targets"]]
    return queries
