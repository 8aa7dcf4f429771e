"""Cross-validation of an emulated BMC beside the PTDaemon simulator (issue 17).

Both follow the same sine load on the absolute clock (WaveModel); the BMC (sushy-tools'
sushy-static serving our mockup) reads ``offset + gain × load`` averaged over a window and
delayed. A real Session with real LoadGen (the CPU SUT in accelerator mode: the load is the
sine, not the CPU) runs the two meters; the report's cross-validation must find the offset,
gain and lag that were set.

    python bench/crossval.py [--seconds 20] [--offset 15] [--gain 1.05] [--delay 0.6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer_drivers.meters.ptd import PtdAnalyzer
from analyzer_drivers.meters.redfish import RedfishAnalyzer
from analyzer_drivers.sim.models import WaveModel
from analyzer_drivers.sim.ptd_server import PtdSimulator
from analyzer_drivers.sim.redfish import BmcModel, RedfishSimulator
from loadgen_bridge.cpu_sut import CpuBenchmark
from loadgen_bridge.workload import InProcessLoadgen
from power_director.config.loader import Config, SessionConfig
from power_director.config.meters.ptd import PtdConfig
from power_director.session.session import ExtraMeter, Session

INTERVAL_MS = 200
IDLE_WATTS = 200.0


async def run_crossval(out: Path, seconds: float, offset: float, gain: float, delay_s: float,
                       window_s: float = 0.3, period_s: float = 10.0) -> dict[str, Any]:
    """One session; returns its report with the settings under ``set``."""
    # 200 ± 50 W: the testing and ranging windows (not whole periods) average within 5 % of each other
    load = WaveModel(idle_watts=IDLE_WATTS, amplitude_watts=50.0, period_s=period_s)
    meter_load = WaveModel(IDLE_WATTS, 50.0, period_s, averaging_s=INTERVAL_MS / 1000)
    ptd = PtdSimulator(model=meter_load, identity="wt310")
    bmc = RedfishSimulator(out / "mockup", BmcModel(load, offset, gain, window_s, delay_s),
                           schema="legacy", update_s=INTERVAL_MS / 1000)
    port = await ptd.start_server()
    bmc_port = await asyncio.to_thread(bmc.start)
    try:
        config = Config(PtdConfig(port=port, interval_ms=INTERVAL_MS), SessionConfig(settle_s=0.2))
        beside = RedfishAnalyzer(f"http://127.0.0.1:{bmc_port}", auth="none", timeout_s=5.0)
        workload = InProcessLoadgen(CpuBenchmark("Offline", seconds, accelerator=True))
        session = Session(config, PtdAnalyzer("127.0.0.1", port), workload, out_root=out, label="crossval",
                          say=lambda _: None, extra_analyzers=[ExtraMeter(beside, "beside")])
        report = (await session.run()).to_json()
    finally:
        await ptd.close()
        bmc.close()
    report["set"] = {"offset_watts": offset, "gain": gain, "lag_s": delay_s, "window_s": window_s,
                     "interval_s": INTERVAL_MS / 1000, "session_dir": str(session.dir)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--offset", type=float, default=15.0)
    parser.add_argument("--gain", type=float, default=1.05)
    parser.add_argument("--delay", type=float, default=0.6)
    parser.add_argument("--window", type=float, default=0.3, help="the BMC's averaging window (s)")
    parser.add_argument("--keep", type=Path, help="keep the session under this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        report = asyncio.run(run_crossval(out, args.seconds, args.offset, args.gain, args.delay, args.window))
        (entry,) = report["beside"].values()
        found, wanted = entry["cross_validation"], report["set"]
        print("| figure | set | measured |\n|---|---|---|")
        print(f"| offset (W) | {wanted['offset_watts']:.2f} | {found['offset_watts']:.2f} |")
        print(f"| gain | {wanted['gain']:.4f} | {found['gain']:.4f} |")
        interval = f"(interval {wanted['interval_s']:g} s)"
        print(f"| lag (s) | {wanted['lag_s']:.2f} | {found['lag_s']:.2f} {interval} |")
        print(f"| correlation | — | {found['correlation']:.5f} |")
        cells = f"over {found['cells']} cells"
        print(f"| mean power difference | — | {found['energy_difference_pct']:.2f} % {cells} |")
        print(json.dumps({"grade": report["grade"], "beside_grade": entry["grade"]}))


if __name__ == "__main__":
    main()
