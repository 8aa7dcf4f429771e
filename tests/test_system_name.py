""""system" is the system under test: ``[session] system`` when configured, else the remote
SUT agent's host (a v3 client's address), else the director's host; in ``session.json``,
``report.json``'s provenance, the results index and ``ls --system``."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from power_director.config.loader import ConfigError, config_from_dict
from power_director.config.system_name import system_name_problem
from reports.model.results import load_session
from tests.conftest import run_cli
from tests.remote_util import process, run, running_director, wait_for_line
from tests.test_service import full_session


def _system(session_dir: Path) -> tuple[str, str, str]:
    meta = json.loads((session_dir / "session.json").read_text())
    provenance = json.loads((session_dir / "report.json").read_text())["provenance"]
    for key in ("system_name", "system_from"):
        assert provenance[key] == meta[key]
    return meta["system_name"], meta["system_from"], str(load_session(session_dir).system)


def test_local_runs_name_the_configured_system_or_this_host(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    workload = [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline", "--seconds", "1"]
    with process([*(sys.executable, "-m", "power_director.cli"), "sim", "ptd", "--port", "0"]) as sim:
        assert sim.stdout is not None
        port = int(wait_for_line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        for label, system in (("named", 'system = "rack7-node3 (2x H200)"\n'), ("plain", "")):
            config = tmp_path / f"{label}.toml"
            config.write_text(f'[analyzer]\nport = {port}\ninterval_ms = 100\n'
                              f'[session]\nlabel = "{label}"\nsettle_s = 0\n{system}')
            result = run_cli("run", "--config", str(config), "--out", str(runs), "--quiet", "--", *workload)
            assert result.returncode in (0, 1), result.stderr  # 1: a 1 s run may fail a check
    named, plain = (next(runs.glob(f"*_{label}")) for label in ("named", "plain"))
    assert _system(named) == ("rack7-node3 (2x H200)", "config", "rack7-node3 (2x H200)")
    host = socket.gethostname()
    assert _system(plain) == (host, "director host", host)

    listed = run_cli("ls", str(runs), "--system", "RACK7", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [row["session"] for row in json.loads(listed.stdout)] == [named.name]
    assert json.loads(listed.stdout)[0]["system"] == "rack7-node3 (2x H200)"
    html = (named / "report.html").read_text()
    assert "rack7-node3 (2x H200)" in html and "(config)" in html


@pytest.mark.parametrize(("configured", "reported", "expected"), [
    ("", "sut-node-3", ("sut-node-3", "sut agent")),
    ("lab-box", "sut-node-3", ("lab-box", "config")),
    ("", "bad\nname", ("127.0.0.1", "sut agent")),  # unusable: the agent's address instead
])
def test_a_remote_sut_is_the_system(tmp_path: Path, configured: str, reported: str,
                                    expected: tuple[str, str]) -> None:
    async def body() -> Path:
        async with running_director(tmp_path) as director:
            service = director.service
            service.config = replace(service.config, session=replace(service.config.session,
                                                                     system=configured))
            session = await full_session(director, tmp_path, label="remote", host_name=reported)
            assert session.result is not None and session.result.status == "completed"
            return session.result.session_dir

    session_dir = run(body)
    name, source, stored = _system(session_dir)
    assert (name, source) == expected and stored == expected[0]


@pytest.mark.parametrize("name", ["two\nlines", " padded", "x" * 201])
def test_a_bad_system_name_is_a_config_error(name: str) -> None:
    assert system_name_problem(name) is not None
    with pytest.raises(ConfigError, match=r"\[session\] system .* must be printable"):
        config_from_dict({"session": {"system": name}})


def test_a_near_miss_system_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'system'"):
        config_from_dict({"session": {"sytem": "box"}})
