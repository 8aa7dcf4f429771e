"""``power-director-ptd-sim`` (also ``power-director sim ptd-launcher``): a stand-in for the
PTDaemon executable that takes PTDaemon's own command line, as power-dev's server launches it
(``ptd -l <log> -p <port> [-b board] [-c ch,ch] [-D] [flag] <deviceType> <devicePort>``), and
serves our PTDaemon simulator there: ``-l`` gets the sample log, the console lines go to
stdout (power-dev tees them into ptd_logs.txt), the device type picks the identity.

The meter's power is constant: ``POWER_DIRECTOR_SIM_WATTS`` (default 150 W), because PTDaemon's
command line has no place for it. Only the device types below are simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.ptd_launch import PtdLaunch, read_command
from analyzer_drivers.sim.models import constant_model
from analyzer_drivers.sim.ptd_server import PtdSimulator, serve_forever

#: PTDaemon device type → simulator identity (device numbers: power-dev compliance/check.py
#: SUPPORTED_MODEL at c4b3ad8202fbd8ac28d77149e5e7aeadb725bbf2).
DEVICE_IDENTITIES = {49: "wt310", 52: "wt330e", 77: "wt330_multichannel"}
WATTS_ENV = "POWER_DIRECTOR_SIM_WATTS"
PROGRAM = "power-director-ptd-sim"


class ConsoleDaemon(PtdSimulator):
    """The simulator with PTDaemon's console: its banner at start and a ``Response to client
    sent:`` line per reply line, as a real daemon prints them (mlcommons/inference_results_v4.1,
    closed/NVIDIA H200-SXM-141GBx8 3d-unet Offline power/ptd_logs.txt, in
    tests/fixtures/real-submissions). power-dev's server tees this console into ptd_logs.txt."""

    def announce(self) -> None:
        print(f"Selected power meter '{self.identity.driver}' (power-director simulator)\n"
              f"                        Version {self.identity.version}\n", flush=True)
        super().announce()
        self._say(f"Connected to {self.identity.driver} successfully")

    def handle(self, line: str) -> str:
        reply = super().handle(line)
        for part in reply.replace("\r\n", "\n").split("\n"):
            self._say(f"Response to client sent: {part}")
        return reply


def simulator_for(launch: PtdLaunch, log_path: str) -> PtdSimulator:
    identity = DEVICE_IDENTITIES.get(launch.device_type)
    if identity is None:
        known = ", ".join(f"{n} ({name})" for n, name in DEVICE_IDENTITIES.items())
        raise AnalyzerError(f"device type {launch.device_type} is not simulated; use one of {known}")
    problems = launch.problems()
    if problems:
        raise AnalyzerError("; ".join(problems))
    # power-dev reads a two-number channel as (first channel, channel count) (Session.stop).
    channels = launch.channel[1] if launch.channel and len(launch.channel) == 2 else 1
    try:
        watts = float(os.environ.get(WATTS_ENV, "150"))
    except ValueError:
        raise AnalyzerError(f"{WATTS_ENV}={os.environ[WATTS_ENV]!r} is not a number") from None
    return ConsoleDaemon(model=constant_model(watts), identity=identity,
                        log_path=Path(log_path) if log_path else None, channels=channels)


async def _serve(simulator: PtdSimulator, port: int) -> None:
    task = asyncio.ensure_future(serve_forever(simulator, "127.0.0.1", port))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_launcher(argv: Sequence[str]) -> int:
    """Serve until SIGTERM/SIGINT (0); a bad command line: one line on stderr, exit 2."""
    try:
        launch, log_path = read_command([PROGRAM, *argv])
        simulator = simulator_for(launch, log_path)
    except AnalyzerError as exc:
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)
    try:
        asyncio.run(_serve(simulator, launch.network_port))
    except OSError as exc:
        print(f"{PROGRAM}: error: cannot listen on port {launch.network_port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0


def main() -> int:
    return run_launcher(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
