"""Fault-free fleet sessions in a row: are they all valid, with no error reading?

    python bench/fleet_sessions.py [--sessions 10] [--seconds 4]

4 meter-agent processes × 2 simulated meters (PTDaemon-protocol simulators in each agent, 500 ms)
publish to a real mosquitto; this process runs one director session after another over all 8 as
``mqtt-stream`` meters (one primary, seven summed), each testing ``--seconds`` of the real
LoadGen (SingleStream). Per session: valid or not (and the failed checks), error readings while
ranging and testing, the system's coverage. Target (issue 27): every session valid, no error
reading. A busy machine is the point: run it while other work runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, figure_table
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import config_from_dict
from power_director.session.session import ExtraMeter, Session
from tests.fleet_util import agent_toml, start_agent, stop_agents, wait_connected
from tests.mqtt_broker import Mosquitto

AGENTS = {f"a{k}": [("psu1", 300.0 + 10 * k), ("psu2", 280.0 + 10 * k)] for k in range(1, 5)}


def _config(broker: str) -> Any:
    streams = [{"type": "mqtt-stream", "broker": broker, "topic": f"{a}/{m}", "interval_ms": 500,
                "connect_timeout_s": 30.0, "reply_timeout_s": 5.0}
               for a, meters in AGENTS.items() for m, _ in meters]
    nodes = [{"name": a, "meters": [f"stream-{a}-{m}" for m, _ in meters]} for a, meters in AGENTS.items()]
    return config_from_dict({
        "analyzer": streams[0], "extra_analyzer": [{**s, "role": "sum"} for s in streams[1:]],
        "session": {"settle_s": 0.2, "poll_interval_s": 0.25, "reconnect_timeout_s": 30.0},
        "node": nodes,
    })


async def _session(config: Any, out: Path, seconds: float) -> dict[str, Any]:
    session = Session(
        config, make_analyzer(config.analyzer),
        InProcessLoadgen(CpuBenchmark("SingleStream", seconds, accelerator=True)),
        out_root=out, label="fleet", say=lambda _: None,
        extra_analyzers=[ExtraMeter(make_analyzer(e.meter), e.role) for e in config.extra_analyzers],
    )
    return (await session.run()).to_json()


def _errors(checks: dict[str, dict[str, Any]]) -> int:
    """Error readings the report names (ranging, testing), 0 when both checks pass."""
    return sum(c["status"] != "pass" for name, c in checks.items()
               if name in ("ranging_error_readings", "testing_range_overload"))


def run(sessions: int = 10, seconds: float = 4.0) -> list[Figure]:
    valid = with_errors = 0
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker = Mosquitto(directory).start()
        agents = [start_agent(directory, a, agent_toml(a, broker.address, directory / f"journal-{a}", meters))
                  for a, meters in AGENTS.items()]
        try:
            wait_connected(directory, list(AGENTS))
            config = _config(broker.address)
            for k in range(sessions):
                report = asyncio.run(_session(config, directory / "runs", seconds))
                checks = {c["name"]: c for c in report["checks"]}
                failed = [f"{name}: {c['message']}" for name, c in checks.items() if c["status"] == "fail"]
                valid += bool(report["valid"])
                with_errors += _errors(checks) > 0
                coverage = report["system"]["system_coverage"]["fraction"]
                print(f"session {k + 1}: {'valid' if report['valid'] else 'INVALID'}; system coverage "
                      f"{coverage:.1%}; " + ("; ".join(failed) or "no failed check"), file=sys.stderr)
        finally:
            stop_agents(agents)
            broker.stop()
    return [
        Figure(f"fleet: valid sessions of {sessions} fault-free {seconds:g} s ones (8 stream meters)",
               str(valid), str(sessions), valid == sessions),
        Figure("fleet: sessions with an error reading", str(with_errors), "0", with_errors == 0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    print(figure_table(run(args.sessions, args.seconds)))


if __name__ == "__main__":
    main()
