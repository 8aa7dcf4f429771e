"""Every injectable analyzer fault in each phase: does the session survive, and is the data kept?

Runs the real director (``Session``) with the PTDaemon driver against the PTDaemon-protocol
simulator on 127.0.0.1, a fault injected in the ranging or the testing phase, and the real
LoadGen over the CPU SUT. "Sent" counts the samples the simulator returned in RL replies
(its sent log); "kept" those of them in the session's raw/ journal. Prints a Markdown table.

    python bench/fault_matrix.py [--seconds S] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import FAULTS, Fault, PtdSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.analyzers import make_analyzer
from power_director.config import AnalyzerConfig, Config, SessionConfig
from power_director.session import Session, SessionError

PHASES = ("ranging", "testing")
INTERVAL_MS = 100
WATTS = 150.0


def _sample_lines(path: Path) -> set[str]:
    return {line for line in path.read_text().splitlines() if line.startswith("Time,")}


async def run_case(kind: str, phase: str, seconds: float, root: Path) -> dict[str, Any]:
    """One session with one fault; what happened to it and to its samples."""
    sent_log = root / f"{kind}-{phase}.sent"
    # Constant power: the verdicts then depend on the fault alone, not on this machine's load.
    simulator = PtdSimulator(constant_model(WATTS), identity="wt310", averaging_ms=INTERVAL_MS,
                             sent_log_path=sent_log, faults=[Fault(kind, phase)])
    port = await simulator.start_server("127.0.0.1", 0)
    config = Config(
        analyzer=AnalyzerConfig(port=port, interval_ms=INTERVAL_MS, connect_timeout_s=2.0,
                                reply_timeout_s=1.0),
        session=SessionConfig(settle_s=0.05, poll_interval_s=0.2, reconnect_timeout_s=5.0),
    )
    workload = InProcessLoadgen(CpuBenchmark("Offline", seconds))
    session = Session(config, make_analyzer(config.analyzer), workload,
                      out_root=root / f"{kind}-{phase}", label=kind, say=lambda _: None)
    started = time.monotonic()
    report: dict[str, Any] = {}
    try:
        report = await session.run()
        outcome = "valid" if report["valid"] else "invalid"
    except SessionError as exc:
        outcome = f"aborted: {exc}"
    finally:
        await simulator.close()
    sent = _sample_lines(sent_log) if sent_log.is_file() else set()
    kept = set().union(*(_sample_lines(p) for p in (session.dir / "raw").glob("*.samples.txt")))
    return {
        "fault": kind, "phase": phase, "outcome": outcome, "seconds": time.monotonic() - started,
        "reconnects": len(session.meta.get("reconnects", [])),
        "restarted": sum(bool(g["restarted"]) for g in session.meta.get("reconnects", [])),
        "sent": len(sent), "kept": len(sent & kept),
        "flags": [c["name"] for c in report.get("checks", []) if c["status"] != "pass"],
    }


async def run_matrix(seconds: float, root: Path) -> list[dict[str, Any]]:
    return [await run_case(kind, phase, seconds, root) for kind in FAULTS for phase in PHASES]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| fault | phase | session | reconnects | samples kept / sent | report flags |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        reconnects = f"{r['reconnects']}" + (f" ({r['restarted']} restarted)" if r["restarted"] else "")
        flags = ", ".join(f for f in r["flags"] if f != "mlperf_min_duration") or "—"
        lines.append(f"| {r['fault']} | {r['phase']} | {r['outcome']} | {reconnects} | "
                     f"{r['kept']} / {r['sent']} | {flags} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="LoadGen minimum duration per phase")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run_matrix(args.seconds, Path(tmp)))
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
