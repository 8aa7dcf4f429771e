"""``power-director sim``: the meter simulators, standalone."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.meters.plug import parse_broker
from analyzer_drivers.sim import plug as plug_sim
from analyzer_drivers.sim import scpi_server
from analyzer_drivers.sim.faults import FAULTS, Fault
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.ptd_identity import IDENTITIES
from analyzer_drivers.sim.ptd_server import (
    MAX_CHANNELS,
    MIN_SIM_INTERVAL_MS,
    PtdSimulator,
    serve_forever,
)
from power_director.cli import sim_redfish as datacenter_cli
from power_director.cli.help import positive_float, positive_int


def add_sim_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser("sim", help="run a meter simulator standalone")
    sims = sim.add_subparsers(dest="simulator", required=True)
    ptd = sims.add_parser("ptd", help="a PTDaemon-protocol server over a simulated meter")
    add_sim_basics(ptd, 8888, sorted(IDENTITIES), "sim")
    ptd.add_argument("--log", type=Path, help="PTDaemon -l style sample log")
    add_fault_options(ptd, "measurements whose mark ends with PHASE",
                      "each RL reply's samples as sent, with their mark ('RL <n>' heads each reply)")
    ptd.add_argument("--interval-ms", type=_sim_interval_ms, metavar="MS",
                     help="sample every MS ms (e.g. 0.05 for 20 kHz) whatever interval Go asks for")
    ptd.add_argument("--channels", type=_sim_channels, default=1, metavar="N",
                     help="a multichannel daemon with N inputs, answering RL,*,* (default 1)")
    ptd.add_argument("--stamp-offset-s", type=int, default=0, metavar="S",
                     help="stamp samples S seconds ahead of UTC, as a daemon on local time does")

    launcher = sims.add_parser(
        "ptd-launcher", help="a PTDaemon stand-in taking PTDaemon's command line (power-director-ptd-sim)")
    launcher.add_argument("ptd_args", nargs=argparse.REMAINDER,
                          help="-l LOG -p PORT [-b N] [-c CH,CH] [-D] [-n|-g|-y|-U] DEVICE_TYPE DEVICE_PORT")

    scpi = sims.add_parser("scpi", help="a Yokogawa WT300E SCPI server (pyvisa: TCPIP::host::port::SOCKET)")
    add_sim_basics(scpi, 5025, sorted(scpi_server.IDENTITIES), "wt310")
    add_fault_options(scpi, "ranging (auto ranges) or testing (fixed ranges)",
                      "each value reply's power as sent, with the phase as its mark")

    plug = sims.add_parser("plug", help="a Tasmota or Shelly smart plug on an MQTT broker")
    plug.add_argument("--broker", type=broker_option, default=("127.0.0.1", 1883), help="HOST:PORT")
    plug.add_argument("--kind", choices=plug_sim.KINDS, default="tasmota", help="the plug's firmware")
    plug.add_argument("--topic", default="plug", help="Tasmota topic or Shelly topic prefix")
    plug.add_argument("--period-s", type=positive_float, default=1.0, help="seconds between readings")
    add_load_model(plug)
    add_fault_options(plug, "ranging (the first burst of polls) or testing (later bursts)",
                      "each reading's power as published, with the phase as its mark")
    datacenter_cli.add_redfish_sim(sims, positive_float, _fault)
    datacenter_cli.add_snmp_sim(sims, positive_float, _fault)
    plug.add_argument("--outage-s", type=positive_float, default=1.0,
                      help="how long a drop, restart or hang fault keeps the plug away")
    plug.add_argument("--phase-pause-s", type=positive_float, default=1.5,
                      help="a pause in polling longer than this starts the next measurement")
    plug.add_argument("--full-topic", default="%prefix%/%topic%/", help="Tasmota FullTopic")
    plug.add_argument("--channels", type=int, default=1, help="Tasmota channels (lists when > 1)")
    plug.add_argument("--component", default="switch:0",
                      help="Shelly component: switch:<id>, pm1:<id>, em:<id>, em1:<id>; Gen1 relay:<n>")


def _sim_interval_ms(text: str) -> float:
    value = positive_float(text)
    if not MIN_SIM_INTERVAL_MS <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be in {MIN_SIM_INTERVAL_MS:g}..60000 ms, not {text}")
    return value


def _sim_channels(text: str) -> int:
    value = positive_int(text)
    if value > MAX_CHANNELS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_CHANNELS}, not {text}")
    return value


#: ``--power``: what the simulated load follows (CpuUtilisationModel's scope).
POWER_MODELS = {"steady": "steady", "cpu": "system"}


def add_load_model(command: argparse.ArgumentParser) -> None:
    command.add_argument("--power", choices=sorted(POWER_MODELS), default="steady",
                         help="steady (default): --idle-watts plus half of --dynamic-watts whatever the "
                         "machine does; cpu: plus --dynamic-watts times this machine's CPU use "
                         "(other programs move it)")
    command.add_argument("--idle-watts", type=positive_float, default=60.0,
                         help="simulated power with this machine's CPUs idle")
    command.add_argument("--dynamic-watts", type=float, default=140.0,
                         help="power added with every CPU of this machine busy (steady: half of it)")


def add_sim_basics(command: argparse.ArgumentParser, port: int, identities: list[str], identity: str) -> None:
    command.add_argument("--host", default="127.0.0.1", help="address to listen on")
    command.add_argument("--port", type=int, default=port, help="TCP port to listen on (0: any free one)")
    command.add_argument("--identity", choices=identities, default=identity,
                         help="the meter model it presents itself as")
    add_load_model(command)


def add_fault_options(command: argparse.ArgumentParser, phases: str, sent: str) -> None:
    command.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND[@PHASE]",
                         help=f"inject a fault (repeatable): {', '.join(FAULTS)}; @PHASE limits it to "
                         f"{phases}, e.g. drop@testing")
    command.add_argument("--sent-log", type=Path, help=f"log {sent}")


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def broker_option(text: str) -> tuple[str, int]:
    try:
        return parse_broker(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _simulator(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    """The simulator the arguments ask for, as the coroutine that serves it.
    ValueError for a fault it cannot have."""
    if args.simulator in ("redfish", "snmp"):
        return datacenter_cli.serve(args)
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


async def run_sim(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        serving = _simulator(args)
    except ValueError as exc:
        raise AnalyzerError(str(exc)) from None
    await serving
    return 0
