"""``power-director sim``: the meter simulators, standalone."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.sim import plug as plug_sim
from analyzer_drivers.sim import scpi_server
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.ptd_server import (
    PtdSimulator,
    serve_forever,
)
from power_director.cli import sim_redfish
from power_director.cli.interrupt import SessionTracker, cancellable
from power_director.cli.sim_parser import POWER_MODELS


def _simulator(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    """The simulator the arguments ask for, as the coroutine that serves it.
    ValueError for a fault it cannot have."""
    if args.simulator in ("redfish", "snmp"):
        return sim_redfish.serve(args)
    model = CpuUtilisationModel(idle_watts=args.idle_watts, dynamic_watts=args.dynamic_watts,
                                scope=POWER_MODELS[args.power])
    if args.simulator == "scpi":
        meter = scpi_server.Wt300Simulator(
            model=model, identity=args.identity, faults=args.fault, sent_log_path=args.sent_log
        )
        return scpi_server.serve_forever(meter, args.host, args.port)
    if args.simulator == "plug":
        host, port = args.broker
        plug = plug_sim.PlugSimulator(
            host, port, args.kind, args.topic, model, args.period_s, faults=args.fault,
            sent_log_path=args.sent_log, outage_s=args.outage_s, phase_pause_s=args.phase_pause_s,
            full_topic=args.full_topic, channels=args.channels, component=args.component,
        )
        return plug_sim.serve_forever(plug)
    simulator = PtdSimulator(
        model=model, identity=args.identity, log_path=args.log, sent_log_path=args.sent_log,
        faults=args.fault, interval_ms=args.interval_ms, channels=args.channels,
        stamp_offset_s=args.stamp_offset_s,
    )
    return serve_forever(simulator, args.host, args.port)


def run_sim(args: argparse.Namespace, tracker: SessionTracker) -> int:
    if args.simulator == "ptd-launcher":
        from power_director.cli.ptd_launcher import run_launcher

        return run_launcher(args.ptd_args)
    # Our own handler, not asyncio.run's: it wakes the loop through its wakeup fd even when the
    # signal lands on a simulator's worker thread (seen once: a sim that never stopped).
    return asyncio.run(cancellable(_run_sim(args), "sim"))


async def _run_sim(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        serving = _simulator(args)
    except ValueError as exc:
        raise AnalyzerError(str(exc)) from None
    await serving
    return 0
