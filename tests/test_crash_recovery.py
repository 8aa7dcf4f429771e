"""SIGKILL the director mid-testing; ``power-director report`` recovers what it had measured."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CLI, run_cli
from tests.test_cli import free_port, one_line_error, write_config


def workload(seconds: float) -> list[str]:
    return [sys.executable, "-m", "loadgen_bridge.cpu_sut", "--scenario", "Offline",
            "--seconds", str(seconds), "--accelerator"]


@pytest.fixture
def sent_log_sim(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``sim ptd`` logging every RL reply it sends (``--sent-log``)."""
    port, sent = free_port(), tmp_path / "sent.log"
    process = subprocess.Popen(
        [*CLI, "sim", "ptd", "--port", str(port), "--identity", "wt310", "--log", str(tmp_path / "ptd.log"),
         "--sent-log", str(sent)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None and "listening" in process.stdout.readline()
        yield port, sent
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_testing(runs: Path, timeout_s: float = 60) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for events in runs.glob("*/raw/events.jsonl"):
            if '"phase": "testing"' in events.read_text():
                return events.parent.parent
        time.sleep(0.05)
    raise AssertionError("the director never reached the testing phase")


def wait_for_sent(sent_log: Path, enough: Callable[[list[str]], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not enough([line for block in sent_blocks(sent_log) for line in block]):
        if time.monotonic() > deadline:
            raise AssertionError("the simulator did not send the samples the test needs")
        time.sleep(0.05)


def sent_blocks(sent_log: Path) -> list[list[str]]:
    """The simulator's RL replies, each the list of sample lines (with mark) it sent."""
    blocks: list[list[str]] = []
    for line in sent_log.read_text().splitlines():
        if line.startswith("RL "):
            blocks.append([])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def test_sigkill_mid_testing_loses_no_polled_sample(sent_log_sim: tuple[int, Path], tmp_path: Path) -> None:
    port, sent_log = sent_log_sim
    config = write_config(tmp_path, port)
    runs = tmp_path / "runs"
    director = subprocess.Popen(
        [*CLI, "run", "--config", str(config), "--out", str(runs), "--", *workload(6)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    session = wait_for_testing(runs)
    # Killed once the simulator has sent testing samples and enough in all for the fraction below
    # to mean something (a fixed 1.5 s left exactly 30 on a busy machine).
    wait_for_sent(sent_log, lambda lines: len(lines) > 30 and sum("_testing" in line for line in lines) >= 8)
    # The whole process group: the director and its workload die together, as in a crash.
    os.killpg(director.pid, signal.SIGKILL)
    director.wait(timeout=10)
    assert director.returncode == -signal.SIGKILL
    assert not (session / "report.json").exists()

    line = one_line_error(run_cli("report", str(session)))
    assert "session aborted: no testing LoadGen log" in line
    report = json.loads((session / "report.json").read_text())
    assert report["valid"] is False
    assert "session aborted: no testing LoadGen log" in report["problems"]
    recovered = report["recovered"]["samples"]
    assert recovered["testing"] and next(iter(recovered["testing"].values())) > 0
    assert (session / "ranging" / "spl.txt").stat().st_size > 0
    assert (session / "run_1" / "spl.txt").stat().st_size > 0
    assert (session / "power" / "server.json").is_file()

    # "Sent before the kill": every sample in an RL reply the simulator wrote. The last reply
    # may still have been in the socket when the director died; it is counted only if kept.
    kept = set().union(*((p.read_text().splitlines()) for p in (session / "raw").glob("*.samples.txt")))
    blocks = sent_blocks(sent_log)
    if blocks and not set(blocks[-1]) <= kept:
        blocks = blocks[:-1]
    sent = [line for block in blocks for line in block]
    assert len(sent) > 30
    recovered_fraction = sum(line in kept for line in sent) / len(sent)
    print(f"recovered {recovered_fraction:.4%} of {len(sent)} samples sent before the kill")
    assert recovered_fraction >= 0.999


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_testing_stops_restores_and_keeps(
    sent_log_sim: tuple[int, Path], tmp_path: Path, signum: signal.Signals
) -> None:
    port, _ = sent_log_sim
    config = write_config(tmp_path, port)
    runs = tmp_path / "runs"
    director = subprocess.Popen(
        [*CLI, "run", "--config", str(config), "--out", str(runs), "--", *workload(2)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    session = wait_for_testing(runs)
    time.sleep(0.5)
    director.send_signal(signum)
    _, stderr = director.communicate(timeout=30)
    assert director.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip() == f"power-director: error: stopped by {signum.name}; raw data kept in {session}"
    meta = json.loads((session / "session.json").read_text())
    assert meta["status"] == "aborted"
    assert meta["samples"] and all(n > 0 for n in meta["samples"].values())
    assert (session / "run_1" / "spl.txt").stat().st_size > 0
    events = (session / "raw" / "events.jsonl").read_text()
    assert '"cmd": "Stop"' in events and '"cmd": "SR,V,Auto"' in events.rsplit("phase_stop", 1)[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as ptd:
        ptd.sendall(b"RR\r\n")
        # Auto ranges again (as before the session): SR was accepted, so the meter is stopped.
        assert ptd.makefile().readline().startswith("Ranges,1,")
