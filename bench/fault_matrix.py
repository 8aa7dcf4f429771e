"""Every injectable analyzer fault in each phase: does the session survive, and is the data kept?

Runs the real director (``Session``) against each simulator on 127.0.0.1 — the PTDaemon
driver and simulator, the Yokogawa driver over pyvisa-py and the SCPI simulator, a Tasmota
plug on a real mosquitto broker — with one fault injected in the ranging or the testing
phase, and the real LoadGen over the CPU SUT in accelerator mode (the power is constant, so
computing would only take CPU from the director). "Sent" counts the samples a simulator sent
while the director measured (its sent log: PTDaemon's RL replies, SCPI value replies, the
plug's readings published between a phase's start and the workload's end); "kept" those of
them in the session's raw/ journal (a reading the driver turned into an error reading counts
as kept). A run without a fault comes first: its flags are those of the setup. Prints a
Markdown table per simulator.

    python bench/fault_matrix.py [--sim ptd|scpi|plug|all] [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer_drivers.formats.ptd_line import parse_sample_line
from analyzer_drivers.formats.sample import Sample
from analyzer_drivers.formats.session_meta import SessionMeta
from analyzer_drivers.sim.faults import FAULTS, PHASES, Fault
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.plug import PlugSimulator
from analyzer_drivers.sim.ptd_server import PtdSimulator
from analyzer_drivers.sim.scpi_server import Wt300Simulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.analyzers import make_analyzer
from power_director.config.loader import AnalyzerConfig, Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.config.meters.tasmota import TasmotaConfig
from power_director.config.meters.yokogawa import YokogawaConfig
from power_director.observe.observer import SessionObserver
from power_director.session.session import Session, SessionError
from tests.mqtt_broker import MISSING_REASON, MOSQUITTO, Mosquitto

SIMULATORS = ("ptd", "scpi", "plug")
TITLES = {
    "ptd": "PTDaemon driver and PTDaemon-protocol simulator",
    "scpi": "Yokogawa driver (pyvisa-py) and the SCPI WT310 simulator",
    "plug": "Tasmota driver and plug simulator on mosquitto",
}
NO_FAULT = "none"
CASES = [(NO_FAULT, ""), *((kind, phase) for kind in FAULTS for phase in PHASES)]
INTERVAL_MS = 100
# The SCPI and plug drivers stamp readings on arrival, on this (loaded) machine's clock: polled
# every 100 ms, a poll delayed 0.1 s by the CPU-bound workload in the same process left a gap
# over the report's 2 intervals (testing_sample_coverage without a fault). Real plugs are
# polled every second or so; a WT310's update interval goes from 100 ms to 20 s.
ARRIVAL_INTERVAL_MS = 250
WATTS = 150.0
# Constant power: the verdicts then depend on the fault alone, not on this machine's load.
MODEL = constant_model(WATTS)
# A reading sent at t is kept stamped within [t, t + this]. The SCPI driver stamps a reading on
# its arrival, and on a loaded 2-core machine that has been seen to lag over 0.5 s.
MAX_LATENCY_NS = 2_000_000_000
PLUG_OUTAGE_S = 1.0
PLUG_PHASE_PAUSE_S = 0.4  # the plug is told when phases begin (PhaseTeller); this only ends one
SETTLE_S = {"ptd": 0.05, "scpi": 0.05, "plug": 0.05}


@dataclass
class Rig:
    """A simulator serving one fault, and the analyzer configuration that reaches it."""

    analyzer: AnalyzerConfig
    sent_log: Path
    observers: tuple[SessionObserver, ...] = ()


class PhaseTeller:
    """Tells the plug simulator when each measurement begins. A plug knows nothing of phases;
    left to tell them apart by pauses in polling, it took a poll delayed on a busy machine for
    the next phase, and injected a testing fault while ranging (the test then saw no testing
    flag)."""

    def __init__(self, simulator: PlugSimulator) -> None:
        self.simulator = simulator

    def on_state(self, phase: str, meta: SessionMeta) -> None:
        if phase in PHASES:
            self.simulator.begin_measurement()

    def on_samples(self, analyzer: str, samples: Sequence[Sample]) -> None:
        pass

    def on_result(self, report: dict[str, Any]) -> None:
        pass


@contextlib.asynccontextmanager
async def ptd_rig(faults: list[Fault], sent_log: Path, broker: str) -> AsyncIterator[Rig]:
    simulator = PtdSimulator(MODEL, identity="wt310", averaging_ms=INTERVAL_MS,
                             sent_log_path=sent_log, faults=faults)
    port = await simulator.start_server("127.0.0.1", 0)
    try:
        yield Rig(PtdConfig(port=port, interval_ms=INTERVAL_MS, connect_timeout_s=2.0,
                                 reply_timeout_s=1.0), sent_log)
    finally:
        await simulator.close()


@contextlib.asynccontextmanager
async def scpi_rig(faults: list[Fault], sent_log: Path, broker: str) -> AsyncIterator[Rig]:
    simulator = Wt300Simulator(MODEL, "wt310", update_interval_s=ARRIVAL_INTERVAL_MS / 1000, faults=faults,
                               sent_log_path=sent_log)
    port = await simulator.start_server("127.0.0.1", 0)
    try:
        yield Rig(YokogawaConfig(resource=f"TCPIP::127.0.0.1::{port}::SOCKET",
                                 interval_ms=ARRIVAL_INTERVAL_MS, connect_timeout_s=2.0, reply_timeout_s=0.3),
                  sent_log)
    finally:
        await simulator.close()


@contextlib.asynccontextmanager
async def plug_rig(faults: list[Fault], sent_log: Path, broker: str) -> AsyncIterator[Rig]:
    host, _, port = broker.rpartition(":")
    topic = sent_log.stem
    simulator = PlugSimulator(host, int(port), "tasmota", topic, MODEL, period_s=0.5, faults=faults,
                              sent_log_path=sent_log, outage_s=PLUG_OUTAGE_S,
                              phase_pause_s=PLUG_PHASE_PAUSE_S)
    task = asyncio.get_running_loop().create_task(simulator.run())
    try:
        await asyncio.wait_for(simulator.ready.wait(), 5)
        yield Rig(TasmotaConfig(broker=broker, topic=topic, interval_ms=ARRIVAL_INTERVAL_MS,
                                 connect_timeout_s=2.0, reply_timeout_s=0.4),
                  sent_log, (PhaseTeller(simulator),))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


RIGS = {"ptd": ptd_rig, "scpi": scpi_rig, "plug": plug_rig}


def _samples(path: Path) -> list[Sample]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [parse_sample_line(line)[0] for line in lines if line.startswith("Time,")]


def _same_watts(a: float, b: float) -> bool:
    """The same reading; an unusable one (a sentinel, NaN) is kept as any error reading."""
    unusable = not (math.isfinite(a) and a > 0) and not (math.isfinite(b) and b > 0)
    return unusable or math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-6)


def kept_count(sent: list[Sample], kept: list[Sample]) -> int:
    """How many sent readings the journal holds: each matched once, in time order, to a kept
    sample of the same power stamped on its arrival (ms resolution)."""
    unused = sorted(kept, key=lambda s: s.t_ns)
    found = 0
    for reading in sorted(sent, key=lambda s: s.t_ns):
        match = next((k for k in unused if reading.t_ns - 1_000_000 <= k.t_ns <= reading.t_ns + MAX_LATENCY_NS
                      and _same_watts(k.watts, reading.watts)), None)
        if match is not None:
            unused.remove(match)
            found += 1
    return found


def _lines(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line for line in path.read_text().splitlines() if line.startswith("Time,")}


def sent_and_kept(simulator: str, session: Session, sent_log: Path) -> tuple[int, int]:
    raw = sorted((session.dir / "raw").glob("*.samples.txt"))
    if simulator == "ptd":  # the daemon stamps samples itself: the very lines come back
        sent_lines = _lines(sent_log)
        return len(sent_lines), len(sent_lines & set().union(*map(_lines, raw)))
    sent = _samples(sent_log)
    if simulator == "plug":  # a reading published as the director stopped may still be in flight
        windows = [(int(t.analyzer_started_s * 1e9), int(t.workload_ended_s * 1e9))
                   for t in (p.times for p in session.meta.phases.values())
                   if t.analyzer_started_s is not None and t.workload_ended_s is not None]
        sent = [s for s in sent if any(begin <= s.t_ns <= end for begin, end in windows)]
    kept = [s for path in raw for s in _samples(path)]
    return len(sent), kept_count(sent, kept)


async def run_case(simulator: str, kind: str, phase: str, seconds: float, root: Path,
                   broker: str) -> dict[str, Any]:
    """One session with one fault; what happened to it and to its samples."""
    row: dict[str, Any] = {"simulator": simulator, "fault": kind, "phase": phase}
    started = time.monotonic()
    sent_log = root / f"{simulator}-{kind}-{phase or 'all'}.sent"
    faults = [] if kind == NO_FAULT else [Fault(kind, phase)]
    async with contextlib.AsyncExitStack() as stack:
        try:
            rig = await stack.enter_async_context(RIGS[simulator](faults, sent_log, broker))
        except ValueError as exc:  # a fault this simulator cannot have
            return {**row, "outcome": f"refused: {exc}", "seconds": 0.0, "reconnects": 0,
                    "restarted": 0, "sent": 0, "kept": 0, "flags": []}
        session = _session(simulator, rig, seconds, root / sent_log.stem, kind)
        report = await _run(session, row)
    sent, kept = sent_and_kept(simulator, session, sent_log)
    reconnects = session.meta.reconnects
    return {
        **row, "seconds": time.monotonic() - started, "reconnects": len(reconnects),
        "restarted": sum(bool(g.restarted) for g in reconnects), "sent": sent, "kept": kept,
        "flags": [c["name"] for c in report.get("checks", []) if c["status"] != "pass"],
    }


def _session(simulator: str, rig: Rig, seconds: float, out_root: Path, label: str) -> Session:
    config = Config(analyzer=rig.analyzer, session=SessionConfig(
        settle_s=SETTLE_S[simulator], poll_interval_s=0.2, reconnect_timeout_s=5.0))
    workload = InProcessLoadgen(CpuBenchmark("Offline", seconds, accelerator=True))
    return Session(config, make_analyzer(config.analyzer), workload, out_root=out_root,
                   label=label, say=lambda _: None, observers=rig.observers)


async def _run(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    try:
        report = (await session.run()).to_json()
    except SessionError as exc:
        row["outcome"] = f"aborted: {exc}"
        return {}
    row["outcome"] = "valid" if report["valid"] else "invalid"
    return report


async def run_matrix(simulators: Iterable[str], seconds: float, root: Path) -> list[dict[str, Any]]:
    rows = []
    async with _broker(root, "plug" in simulators) as broker:
        for simulator in simulators:
            for kind, phase in CASES:
                rows.append(await run_case(simulator, kind, phase, seconds, root, broker))
    return rows


@contextlib.asynccontextmanager
async def _broker(root: Path, needed: bool) -> AsyncIterator[str]:
    if not needed:
        yield ""
        return
    if MOSQUITTO is None:
        raise SystemExit(f"fault_matrix: the plug simulator needs a broker: {MISSING_REASON}")
    mosquitto = Mosquitto(root).start()
    try:
        yield mosquitto.address
    finally:
        mosquitto.stop()


def markdown(rows: list[dict[str, Any]]) -> str:
    tables = []
    for simulator in dict.fromkeys(r["simulator"] for r in rows):
        lines = [f"**{TITLES[simulator]}**", "",
                 "| fault | phase | session | reconnects | samples kept / sent | report flags |",
                 "|---|---|---|---|---|---|"]
        lines += [_row(r) for r in _merged(r for r in rows if r["simulator"] == simulator)]
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def _merged(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row for a fault a simulator refuses in every phase."""
    merged: list[dict[str, Any]] = []
    for r in rows:
        previous = merged[-1] if merged else None
        if previous and previous["fault"] == r["fault"] and r["outcome"].startswith("refused"):
            previous["phase"] = "any"
        else:
            merged.append(dict(r))
    return merged


def _row(r: dict[str, Any]) -> str:
    phase = r["phase"] or "—"
    if r["outcome"].startswith("refused"):
        why = r["outcome"].split(": ", 2)[-1]
        return f"| {r['fault']} | {phase} | refused | — | — | {why} |"
    reconnects = f"{r['reconnects']}" + (f" ({r['restarted']} restarted)" if r["restarted"] else "")
    flags = ", ".join(f for f in r["flags"] if f != "mlperf_min_duration") or "—"
    return (f"| {r['fault']} | {phase} | {r['outcome']} | {reconnects} | {r['kept']} / {r['sent']} | "
            f"{flags} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sim", choices=[*SIMULATORS, "all"], default="all", help="which simulator(s)")
    parser.add_argument("--seconds", type=float, default=0.5, help="LoadGen minimum duration per phase")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    args = parser.parse_args()
    simulators = SIMULATORS if args.sim == "all" else (args.sim,)
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run_matrix(simulators, args.seconds, Path(tmp)))
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
