"""``power-director sim ...``'s arguments: one subcommand per simulator. Choices that live in a
simulator's module load only when used (``LazyChoices``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from analyzer_drivers.sim.faults import FAULTS, Fault
from analyzer_drivers.sim.ptd_identity import IDENTITIES
from power_director.cli.help import LazyChoices, old_spelling, positive_float, positive_int

Commands = argparse._SubParsersAction  # the subparsers of one parser


def add_sim_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser("sim", help="run a meter simulator standalone")
    sims = sim.add_subparsers(dest="simulator", required=True)
    _add_ptd(sims)
    launcher = sims.add_parser(
        "ptd-launcher", help="a PTDaemon stand-in taking PTDaemon's command line (power-director-ptd-sim)")
    launcher.add_argument("ptd_args", nargs=argparse.REMAINDER,
                          help="-l LOG -p PORT [-b N] [-c CH,CH] [-D] [-n|-g|-y|-U] DEVICE_TYPE DEVICE_PORT")
    scpi = sims.add_parser("scpi", help="a Yokogawa WT300E SCPI server (pyvisa: TCPIP::host::port::SOCKET)")
    add_sim_basics(scpi, 5025, LazyChoices("analyzer_drivers.sim.scpi_meter", "IDENTITIES"), "wt310")
    add_fault_options(scpi, "ranging (auto ranges) or testing (fixed ranges)",
                      "each value reply's power as sent, with the phase as its mark")
    _add_plug(sims)
    _add_redfish(sims)
    _add_snmp(sims)


def _add_ptd(sims: Commands[argparse.ArgumentParser]) -> None:
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


def _add_plug(sims: Commands[argparse.ArgumentParser]) -> None:
    plug = sims.add_parser("plug", help="a Tasmota or Shelly smart plug on an MQTT broker")
    plug.add_argument("--broker", type=broker_option, default=("127.0.0.1", 1883), metavar="HOST:PORT",
                      help="the MQTT broker")
    plug.add_argument("--kind", choices=LazyChoices("analyzer_drivers.sim.plug", "KINDS"), default="tasmota",
                      metavar="KIND", help="the plug's firmware: %(choices)s")
    plug.add_argument("--topic", default="plug", help="Tasmota topic or Shelly topic prefix")
    plug.add_argument("--period-s", type=positive_float, default=1.0, help="seconds between readings")
    add_load_model(plug)
    add_fault_options(plug, "ranging (the first burst of polls) or testing (later bursts)",
                      "each reading's power as published, with the phase as its mark")
    plug.add_argument("--outage-s", type=positive_float, default=1.0,
                      help="how long a drop, restart or hang fault keeps the plug away")
    plug.add_argument("--phase-pause-s", type=positive_float, default=1.5,
                      help="a pause in polling longer than this starts the next measurement")
    plug.add_argument("--full-topic", default="%prefix%/%topic%/", help="Tasmota FullTopic")
    plug.add_argument("--channels", type=int, default=1, help="Tasmota channels (lists when > 1)")
    plug.add_argument("--component", default="switch:0",
                      help="Shelly component: switch:<id>, pm1:<id>, em:<id>, em1:<id>; Gen1 relay:<n>")


def _add_redfish(sims: Commands[argparse.ArgumentParser]) -> None:
    redfish = sims.add_parser("redfish",
                              help="a BMC's Redfish service (sushy-tools' sushy-static on a mockup)")
    redfish.add_argument("--port", type=int, default=8000, help="TCP port of the emulated BMC")
    redfish.add_argument("--mockup-dir", type=Path, help="where the mockup is written (default: a temp dir)")
    redfish.add_argument("--schema", choices=LazyChoices("analyzer_drivers.sim.redfish_mockup", "SCHEMAS"),
                         default="environment", metavar="SCHEMA",
                         help="legacy Chassis/<id>/Power, or EnvironmentMetrics + Sensors "
                         "(default): %(choices)s")
    redfish.add_argument("--update-s", type=positive_float, default=1.0,
                         help="seconds between the BMC's updates")
    redfish.add_argument("--idle-watts", type=positive_float, default=60.0, help="the load's power when idle")
    redfish.add_argument("--dynamic-watts", type=float, default=140.0, help="power added at full CPU load")
    redfish.add_argument("--offset-watts", type=float, default=0.0, help="the BMC reads offset + gain × load")
    redfish.add_argument("--gain", type=positive_float, default=1.0,
                         help="the BMC reads offset + gain × load")
    redfish.add_argument("--window-s", type=positive_float, default=1.0, help="the BMC's averaging window")
    redfish.add_argument("--delay-s", type=float, default=0.0, help="how late the BMC's reading is")
    cert = redfish.add_argument("--tls-cert", default="", metavar="FILE",
                                help="serve HTTPS with this certificate (and --tls-key)")
    key = redfish.add_argument("--tls-key", default="", metavar="FILE", help="the private key of --tls-cert")
    old_spelling("sim", redfish, cert, "--ssl-cert")
    old_spelling("sim", redfish, key, "--ssl-key")
    redfish.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND",
                         help="hang, drop, restart, garbage, sentinels, clock-jump, stale, counter-wrap; "
                         "fires on the 3rd read of the power reading")
    redfish.add_argument("--outage-s", type=positive_float, default=2.0,
                         help="how long a drop or hang fault lasts")
    redfish.add_argument("--sent-log", type=Path, help="log each reading a GET served")


def _add_snmp(sims: Commands[argparse.ArgumentParser]) -> None:
    pdu = sims.add_parser("snmp", help="a rack PDU's SNMP agent (Debian's snmpsimd on MIB-shaped data)")
    pdu.add_argument("--port", type=int, default=1161, help="UDP port (161 needs root)")
    pdu.add_argument("--family", choices=LazyChoices("analyzer_drivers.sim.snmp_pdu", "SIM_FAMILIES"),
                     default="raritan", metavar="FAMILY", help="the PDU's MIB family: %(choices)s")
    pdu.add_argument("--outlets", default="1.1,1.2", help="comma list of outlet indexes")
    pdu.add_argument("--idle-watts", type=positive_float, default=120.0, help="each outlet's mean power")
    pdu.add_argument("--amplitude-watts", type=float, default=3.0, help="each outlet's sine swing")
    pdu.add_argument("--period-s", type=positive_float, default=10.0, help="the sine's period")
    pdu.add_argument("--v3-user", default="director", help="the SNMPv3 user (authPriv)")
    pdu.add_argument("--v3-auth-key", default="auth-key-123", help="the SNMPv3 auth key (test only)")
    pdu.add_argument("--v3-priv-key", default="priv-key-123", help="the SNMPv3 privacy key (test only)")
    pdu.add_argument("--fault", type=_fault, action="append", default=[], metavar="KIND",
                     help="hang, drop, sentinels, stale, counter-wrap; fires on the 3rd response")
    pdu.add_argument("--outage-s", type=positive_float, default=2.0,
                     help="how long a drop or hang fault lasts")


def _sim_interval_ms(text: str) -> float:
    from analyzer_drivers.sim.ptd_server import MIN_SIM_INTERVAL_MS  # only when the option is given

    value = positive_float(text)
    if not MIN_SIM_INTERVAL_MS <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be in {MIN_SIM_INTERVAL_MS:g}..60000 ms, not {text}")
    return value


def _sim_channels(text: str) -> int:
    from analyzer_drivers.sim.ptd_server import MAX_CHANNELS  # only when the option is given

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


def add_sim_basics(command: argparse.ArgumentParser, port: int, identities: list[str] | LazyChoices,
                   identity: str) -> None:
    command.add_argument("--host", default="127.0.0.1", help="address to listen on")
    command.add_argument("--port", type=int, default=port, help="TCP port to listen on (0: any free one)")
    command.add_argument("--identity", choices=identities, default=identity, metavar="MODEL",
                         help="the meter model it presents itself as: %(choices)s")
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
    """``HOST:PORT`` (port 1883 when left out) as the pair a simulator connects to."""
    from analyzer_drivers.meters.plug import parse_broker  # the plug driver: only when given

    try:
        return parse_broker(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def broker_text(text: str) -> str:
    """``HOST:PORT`` checked as ``broker_option`` checks it, kept as text (the telemetry config's form)."""
    broker_option(text)
    return text
