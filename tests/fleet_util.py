"""Meter-agent processes for the fleet tests: each a real ``power-director meter-agent`` with
PTDaemon-protocol simulators in it, publishing to a real mosquitto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def agent_toml(
    agent_id: str, broker: str, journal_dir: Path, meters: Sequence[tuple[str, float]], *,
    interval_ms: int = 500, clock_shift_ms: float = 0.0, metrics_port: int = 0, extra: str = "",
) -> str:
    lines = [
        "[agent]", f'id = "{agent_id}"', f'broker = "{broker}"', f'journal_dir = "{journal_dir}"',
        f"clock_shift_ms = {clock_shift_ms}", f"metrics_port = {metrics_port}", extra,
    ]
    for name, watts in meters:
        lines += ["[[meter]]", f'name = "{name}"', f"sim_watts = {watts}", "sim_dynamic_watts = 0.0",
                  f"interval_ms = {interval_ms}"]
    return "\n".join(lines) + "\n"


def start_agent(directory: Path, agent_id: str, toml: str) -> subprocess.Popen[bytes]:
    config = directory / f"agent-{agent_id}.toml"
    config.write_text(toml, encoding="utf-8")
    log = (directory / f"agent-{agent_id}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "power_director.cli", "meter-agent", "--config", str(config)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=directory, stdout=log, stderr=subprocess.STDOUT,
    )


def stop_agents(agents: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    for agent in agents:
        if agent.poll() is None:
            agent.terminate()
    codes = []
    for agent in agents:
        try:
            codes.append(agent.wait(timeout=20))
        except subprocess.TimeoutExpired:
            agent.kill()
            codes.append(agent.wait(timeout=10))
    return codes


def journal_rows(journal_dir: Path, meter: str) -> list[list[Any]]:
    """An agent's journal of one meter: [seq, t_ns, watts, volts, amps, pf] rows."""
    rows = []
    for line in (journal_dir / f"{meter}.samples.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def wait_connected(directory: Path, agent_ids: Sequence[str], timeout_s: float = 180.0) -> None:
    """Until each agent's log says it reached the broker: on a busy machine a Python process can
    take many seconds to start, and a director's connect timeout is not meant to cover that."""
    def up() -> bool:
        logs = [directory / f"agent-{a}.log" for a in agent_ids]
        return all(p.is_file() and ": connected to " in p.read_text(encoding="utf-8") for p in logs)

    wait_for(up, timeout_s, f"agents {', '.join(agent_ids)} to connect to the broker")
