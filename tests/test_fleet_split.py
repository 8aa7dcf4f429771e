"""A fleet split across two directors (docs/fleet.md, "Scale, and a fleet split across
directors"): one mosquitto, four meter agents, two ``power-director run`` processes at once, each
over its own rack's two agents with its own ``[[node]]`` tables, both recording in one real
PostgreSQL results store; the racks' results are summed through the store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reports.store.postgres import PostgresStore
from reports.store.sqlite import Query
from tests.conftest import CLI
from tests.fleet_util import agent_toml, start_agent, stop_agents, wait_connected
from tests.mqtt_broker import MOSQUITTO, Mosquitto
from tests.postgres_server import AVAILABLE, MISSING_REASON, Postgres
from tests.test_crash_recovery import workload

pytestmark = [pytest.mark.skipif(not AVAILABLE, reason=MISSING_REASON),
              pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")]
RACKS = {"rack-a": {"a1": 300.0, "a2": 400.0}, "rack-b": {"b1": 250.0, "b2": 350.0}}  # agent → watts per psu


def _director_toml(broker: str, agents: dict[str, float], url: str, rack: str) -> str:
    """The rack's stream meters (the first the primary, the rest summed) and one node per agent."""
    meters: list[str] = []
    nodes: list[str] = []
    for agent in agents:
        for meter in ("psu1", "psu2"):
            table, role = ("[analyzer]", "") if not meters else ("[[extra_analyzer]]", 'role = "sum"\n')
            meters.append(f'{table}\ntype = "mqtt-stream"\nbroker = "{broker}"\ntopic = "{agent}/{meter}"\n'
                          f"interval_ms = 500\nconnect_timeout_s = 30.0\n{role}")
        nodes.append(f'[[node]]\nname = "{agent}"\nmeters = ["stream-{agent}-psu1", "stream-{agent}-psu2"]\n')
    return ("".join(meters) + "".join(nodes) + f'[session]\nsettle_s = 0.2\nresults_url = "{url}"\n'
            f'label = "{rack}"\n[telemetry]\ndirector_id = "{rack}"\n')


def test_two_directors_split_a_fleet_and_sum_through_the_store(tmp_path: Path) -> None:
    postgres = Postgres().start()
    broker = Mosquitto(tmp_path).start()
    agents = [start_agent(tmp_path, a, agent_toml(a, broker.address, tmp_path / f"journal-{a}",
                                                  [("psu1", w), ("psu2", w)]))
              for rack in RACKS.values() for a, w in rack.items()]
    try:
        wait_connected(tmp_path, [a for rack in RACKS.values() for a in rack])
        directors = {}
        for rack, members in RACKS.items():
            config = tmp_path / f"{rack}.toml"
            config.write_text(_director_toml(broker.address, members, postgres.url, rack), encoding="utf-8")
            directors[rack] = subprocess.Popen(
                [*CLI, "run", "--config", str(config), "--out", str(tmp_path / rack), "--quiet", "--",
                 *workload(4)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rack, process in directors.items():
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, (rack, output.decode()[-2000:])
        with PostgresStore(postgres.url, source="reader") as store:
            assert store.sources() == {"rack-a": 1, "rack-b": 1}
            rows = {rack: store.query(Query(label=rack)) for rack in RACKS}
    finally:
        stop_agents(agents)
        broker.stop()
        postgres.stop()
    for rack, members in RACKS.items():
        (row,) = rows[rack]
        assert row.valid, (rack, row.problems)
        assert row.avg_watts == pytest.approx(2 * sum(members.values()), rel=0.01), rack
    total = sum(row.avg_watts or 0.0 for found in rows.values() for row in found)
    assert total == pytest.approx(2 * sum(w for rack in RACKS.values() for w in rack.values()), rel=0.01)
