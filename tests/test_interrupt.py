"""A real SIGINT to a real ``power-director`` process at each moment of a session: before the
meter answers, in ranging before the first sample, mid-testing, and to ``serve`` idle or
measuring. One line on stderr, exit 130, and it names the kept directory exactly when there
is one; a session that measured nothing leaves no directory (nor an output folder it made)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.remote_util import CLI, director_processes, process, wait_for_line, write_token

WAIT_S = 90.0  # generous: the machine may be busy
NOTHING_KEPT = "power-director: error: stopped by SIGINT before the first sample; no session directory kept"
SLOW_WORKLOAD = [sys.executable, "-c", "import time; time.sleep(120)"]


def offline(seconds: float) -> list[str]:
    return [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
            "--seconds", str(seconds)]


@contextlib.contextmanager
def silent_meter() -> Iterator[tuple[int, threading.Event]]:
    """A TCP port that accepts connections and never answers (a hung PTDaemon)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])
                accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for conn in held:
            conn.close()


def wait_until(condition: object, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def in_phase(out_root: Path, phase: str) -> Path | None:
    for events in out_root.glob("*/raw/events.jsonl"):
        with contextlib.suppress(OSError):
            if f'"phase": "{phase}"' in events.read_text():
                return events.parent.parent
    return None


def interrupt(child: subprocess.Popen[str]) -> str:
    """SIGINT; the last line the child printed (stdout and stderr are merged)."""
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=WAIT_S)
    assert child.returncode == 130, output
    assert "Traceback" not in output, output
    return output.strip().splitlines()[-1]


def write_config(path: Path, port: int, interval_ms: int, **session: object) -> Path:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in session.items())
    path.write_text(f'[analyzer]\ntype = "ptd"\nport = {port}\ninterval_ms = {interval_ms}\n'
                    f"connect_timeout_s = 60\nreply_timeout_s = 60\n[session]\nsettle_s = 0\n{extra}")
    return path


def test_run_interrupted_before_the_meter_answers(tmp_path: Path) -> None:
    out_root = tmp_path / "made" / "runs"
    with silent_meter() as (port, accepted):
        config = write_config(tmp_path / "hung.toml", port, 1000)
        with process([*CLI, "run", "--config", str(config), "--out", str(out_root), "--",
                      *SLOW_WORKLOAD]) as director:
            wait_until(accepted.is_set, "the director to connect")
            line = interrupt(director)
    assert line == NOTHING_KEPT
    assert not (tmp_path / "made").exists()  # neither the session nor the folders it made


def test_run_interrupted_in_ranging_before_the_first_sample(tmp_path: Path) -> None:
    out_root = tmp_path / "runs"
    out_root.mkdir()
    (out_root / "mine.txt").write_text("not the director's")
    with process([*CLI, "sim", "ptd", "--port", "0"]) as sim:
        assert sim.stdout is not None
        port = int(wait_for_line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        # One sample a minute: ranging starts and is interrupted before its first sample.
        config = write_config(tmp_path / "slow.toml", port, 60_000)
        with process([*CLI, "run", "--config", str(config), "--out", str(out_root), "--",
                      *SLOW_WORKLOAD]) as director:
            wait_until(lambda: in_phase(out_root, "ranging"), "ranging to start")
            line = interrupt(director)
    assert line == NOTHING_KEPT
    assert [p.name for p in out_root.iterdir()] == ["mine.txt"]


def test_run_interrupted_mid_testing_names_the_kept_directory(tmp_path: Path) -> None:
    out_root = tmp_path / "runs"
    with process([*CLI, "sim", "ptd", "--port", "0"]) as sim:
        assert sim.stdout is not None
        port = int(wait_for_line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)").group(1))
        config = write_config(tmp_path / "fast.toml", port, 100, poll_interval_s=0.1)
        with process([*CLI, "run", "--config", str(config), "--out", str(out_root), "--quiet", "--",
                      *offline(6)]) as director:
            wait_until(lambda: in_phase(out_root, "testing"), "testing to start")
            session = in_phase(out_root, "testing")
            assert session is not None
            samples = session / "raw" / f"ptd-127.0.0.1-{port}.samples.txt"
            ranging = samples.read_text().count("\n")
            wait_until(lambda: samples.read_text().count("\n") > ranging, "a testing sample")
            line = interrupt(director)
    assert line == f"power-director: error: stopped by SIGINT; raw data kept in {session}"
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "aborted" and all(n > 0 for n in meta["samples"].values())


def test_demo_interrupted_early_says_what_it_kept(tmp_path: Path) -> None:
    """Interrupted as soon as it starts: whichever moment the signal lands on, the line and
    the disk agree."""
    out_root = tmp_path / "runs"
    with process([*CLI, "demo", "--out", str(out_root)]) as demo:
        assert demo.stdout is not None
        wait_for_line(demo.stdout, r"connecting to", timeout_s=WAIT_S)
        line = interrupt(demo)
    kept = [p for p in out_root.iterdir() if p.is_dir()] if out_root.exists() else []
    if kept:
        assert line == f"power-director: error: stopped by SIGINT; raw data kept in {kept[0]}"
        assert json.loads((kept[0] / "session.json").read_text())["status"] == "aborted"
    else:
        assert line == NOTHING_KEPT
        assert not out_root.exists()


def test_demo_interrupted_in_its_second_session(tmp_path: Path) -> None:
    out_root = tmp_path / "runs"
    with process([*CLI, "demo", "--out", str(out_root), "--quiet"]) as demo:
        wait_until(lambda: any(out_root.glob("*demo-offline/raw/*.samples.txt")), "the second session")
        first = next(out_root.glob("*demo-singlestream"))
        second = next(out_root.glob("*demo-offline"))
        line = interrupt(demo)
    assert line == f"power-director: error: stopped by SIGINT; raw data kept in {second}"
    assert (first / "report.json").is_file()


def test_serve_interrupted_while_idle(tmp_path: Path) -> None:
    with director_processes(tmp_path) as (_port, out_root, serve):
        line = interrupt(serve)
    assert line == "power-director: error: serve stopped by SIGINT; no session was measuring"
    assert not out_root.exists()


def test_serve_interrupted_mid_session_names_the_kept_directory(tmp_path: Path) -> None:
    with director_processes(tmp_path) as (port, out_root, serve):
        agent_cmd = [*CLI, "sut-agent", "--director", f"127.0.0.1:{port}",
                     "--token-file", str(write_token(tmp_path / "token")),
                     "--out", str(tmp_path / "sut"), "--", *offline(6)]
        with process(agent_cmd) as agent:
            wait_until(lambda: in_phase(out_root, "testing"), "testing to start")
            session = in_phase(out_root, "testing")
            line = interrupt(serve)
            agent.wait(timeout=WAIT_S)
            assert agent.returncode != 0
    assert line == f"power-director: error: stopped by SIGINT; raw data kept in {session}"
    assert session is not None
    assert json.loads((session / "session.json").read_text())["status"] == "aborted"
