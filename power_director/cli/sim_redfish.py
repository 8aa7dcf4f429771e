"""``power-director sim redfish``: an emulated BMC (sushy-tools' sushy-static on our mockup)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.formats.session_layout import REPORT_JSON
from analyzer_drivers.sim import redfish as redfish_sim
from analyzer_drivers.sim import snmp_pdu as snmp_sim
from analyzer_drivers.sim.faults import Fault, check_supported
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.redfish import SCHEMAS, BmcModel, RedfishSimulator
from analyzer_drivers.sim.snmp_pdu import SIM_FAMILIES, Outlet, PduData, SnmpPduSimulator
from power_director.config.analyzers import make_analyzer
from power_director.config.calibration import calibration_from_report
from power_director.config.loader import ConfigError, load_config
from reports.advice import advise, facts_for
from reports.model.report import SessionReport


def add_redfish_sim(
    sims: argparse._SubParsersAction[argparse.ArgumentParser],
    positive: Callable[[str], float],
    fault: Callable[[str], Fault],
) -> None:
    redfish = sims.add_parser(
        "redfish", help="a BMC's Redfish service (sushy-tools' sushy-static on a mockup)"
    )
    redfish.add_argument("--port", type=int, default=8000, help="TCP port of the emulated BMC")
    redfish.add_argument("--mockup-dir", type=Path, help="where the mockup is written (default: a temp dir)")
    redfish.add_argument(
        "--schema",
        choices=SCHEMAS,
        default="environment",
        help="legacy Chassis/<id>/Power, or EnvironmentMetrics + Sensors (default)",
    )
    redfish.add_argument("--update-s", type=positive, default=1.0, help="seconds between the BMC's updates")
    redfish.add_argument("--idle-watts", type=positive, default=60.0, help="the load's power when idle")
    redfish.add_argument("--dynamic-watts", type=float, default=140.0, help="power added at full CPU load")
    redfish.add_argument("--offset-watts", type=float, default=0.0, help="the BMC reads offset + gain × load")
    redfish.add_argument("--gain", type=positive, default=1.0, help="the BMC reads offset + gain × load")
    redfish.add_argument("--window-s", type=positive, default=1.0, help="the BMC's averaging window")
    redfish.add_argument("--delay-s", type=float, default=0.0, help="how late the BMC's reading is")
    redfish.add_argument("--ssl-cert", default="", help="serve HTTPS with this certificate (and --ssl-key)")
    redfish.add_argument("--ssl-key", default="", help="the private key of --ssl-cert")
    redfish.add_argument(
        "--fault",
        type=fault,
        action="append",
        default=[],
        metavar="KIND",
        help="hang, drop, restart, garbage, sentinels, clock-jump, stale, counter-wrap; "
        "fires on the 3rd read of the power reading",
    )
    redfish.add_argument("--outage-s", type=positive, default=2.0, help="how long a drop or hang fault lasts")
    redfish.add_argument("--sent-log", type=Path, help="log each reading a GET served")


async def serve_redfish(args: argparse.Namespace) -> None:
    """Run until cancelled. ValueError for a fault the emulator cannot have."""
    model = CpuUtilisationModel(idle_watts=args.idle_watts, dynamic_watts=args.dynamic_watts)
    bmc = BmcModel(model, args.offset_watts, args.gain, args.window_s, args.delay_s)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.mockup_dir or Path(tmp)
        simulator = RedfishSimulator(
            root,
            bmc,
            schema=args.schema,
            update_s=args.update_s,
            faults=args.fault,
            outage_s=args.outage_s,
            sent_log_path=args.sent_log,
        )
        try:
            port = await asyncio.to_thread(simulator.start, args.port, args.ssl_cert, args.ssl_key)
        except RuntimeError as exc:
            raise AnalyzerError(str(exc)) from None
        scheme = "https" if args.ssl_cert else "http"
        print(f"redfish BMC emulator on {scheme}://127.0.0.1:{port} (mockup {root})", flush=True)
        try:
            await _until_signalled()
        finally:
            simulator.close()


def add_snmp_sim(
    sims: argparse._SubParsersAction[argparse.ArgumentParser],
    positive: Callable[[str], float],
    fault: Callable[[str], Fault],
) -> None:
    pdu = sims.add_parser("snmp", help="a rack PDU's SNMP agent (Debian's snmpsimd on MIB-shaped data)")
    pdu.add_argument("--port", type=int, default=1161, help="UDP port (161 needs root)")
    pdu.add_argument("--family", choices=SIM_FAMILIES, default="raritan", help="the PDU's MIB family")
    pdu.add_argument("--outlets", default="1.1,1.2", help="comma list of outlet indexes")
    pdu.add_argument("--idle-watts", type=positive, default=120.0, help="each outlet's mean power")
    pdu.add_argument("--amplitude-watts", type=float, default=3.0, help="each outlet's sine swing")
    pdu.add_argument("--period-s", type=positive, default=10.0, help="the sine's period")
    pdu.add_argument("--v3-user", default="director", help="the SNMPv3 user (authPriv)")
    pdu.add_argument("--v3-auth-key", default="auth-key-123", help="the SNMPv3 auth key (test only)")
    pdu.add_argument("--v3-priv-key", default="priv-key-123", help="the SNMPv3 privacy key (test only)")
    pdu.add_argument(
        "--fault",
        type=fault,
        action="append",
        default=[],
        metavar="KIND",
        help="hang, drop, sentinels, stale, counter-wrap; fires on the 3rd response",
    )
    pdu.add_argument("--outage-s", type=positive, default=2.0, help="how long a drop or hang fault lasts")


async def serve_snmp(args: argparse.Namespace) -> None:
    """Run until cancelled. ValueError for a fault the emulator cannot have."""
    outlets = [Outlet(i.strip(), args.idle_watts, args.amplitude_watts) for i in args.outlets.split(",")]
    data = PduData(args.family, outlets, period_s=args.period_s)
    simulator = SnmpPduSimulator(
        data,
        v3_user=args.v3_user,
        v3_auth_key=args.v3_auth_key,
        v3_priv_key=args.v3_priv_key,
        faults=args.fault,
        outage_s=args.outage_s,
    )
    try:
        port = await asyncio.to_thread(simulator.start, args.port)
    except RuntimeError as exc:
        simulator.close()
        raise AnalyzerError(str(exc)) from None
    print(
        f"{args.family} PDU emulator on udp 127.0.0.1:{port}: community / v3 context 'pdu', "
        f"outlets {args.outlets}",
        flush=True,
    )
    try:
        await _until_signalled()
    finally:
        simulator.close()


COMMANDS = ("calibrate", "advise")


async def _until_signalled() -> None:
    """Serve until SIGTERM or SIGINT, so the emulator process is stopped on the way out."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def serve(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    """``sim redfish`` or ``sim snmp``: the emulator as the coroutine that serves it.
    ValueError now for a fault it cannot have."""
    if args.simulator == "redfish":
        check_supported(args.fault, "redfish", redfish_sim.REFUSED, redfish_sim.SUPPORTED_EXTRA)
        return serve_redfish(args)
    check_supported(args.fault, "snmp", snmp_sim.REFUSED, ("stale", "counter-wrap"))
    return serve_snmp(args)


def add_datacenter_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="save a beside meter's offset and gain against the certified analyzer of a session"
    )
    calibrate.add_argument("session", type=Path, help="a session with a beside meter")
    calibrate.add_argument("--meter", help="the beside meter's driver name (when there are several)")
    calibrate.add_argument("--out", type=Path, required=True, help="the calibration file to write")
    advice = commands.add_parser("advise", help="before a run: can the configured meter meet an uncertainty?")
    advice.add_argument("--config", type=Path, required=True, help="the config naming the meter")
    advice.add_argument("--watts", type=float, required=True, help="the power you expect")
    advice.add_argument("--seconds", type=float, default=600.0, help="the testing run's length")
    advice.add_argument("--target-pct", type=float, default=1.0, help="the uncertainty wanted, in %%")
    advice.add_argument("--accuracy-pct", type=float, help="the meter's stated accuracy, if it does not say")


def run_datacenter_command(args: argparse.Namespace) -> int:
    if args.command == "calibrate":
        return _calibrate(args)
    return asyncio.run(_advise(args))


def _calibrate(args: argparse.Namespace) -> int:
    report = SessionReport.read(args.session / REPORT_JSON)
    calibration = calibration_from_report(report, args.meter)
    args.out.write_text(json.dumps(calibration, indent=2) + "\n", encoding="utf-8")
    print(
        f"{calibration['meter']}: offset {calibration['offset_watts']:+.2f} W, "
        f"gain {calibration['gain']:.4f}, "
        f"lag {calibration['lag_s']:.2f} s (from {calibration['from_session']}) -> {args.out}"
    )
    return 0


async def _advise(args: argparse.Namespace) -> int:
    config = load_config(args.config).analyzer
    if args.watts <= 0 or args.seconds <= 0 or args.target_pct <= 0:
        raise ConfigError("--watts, --seconds and --target-pct must be positive")
    accuracy = args.accuracy_pct / 100 if args.accuracy_pct is not None else None
    averaging_s = 0.0
    if config.type in ("redfish", "snmp"):  # ask the meter what it says of itself
        async with make_analyzer(config) as meter:
            info = await meter.identify()
        averaging_s = info.averaging_ms / 1000
        if "stats_interval_min" in info.extra:  # DMTF Power schema: the window of Min/Max/Average only
            print(f"  PowerMetrics.IntervalInMin {info.extra['stats_interval_min']} min is the window of the "
                  "BMC's Min/Max/AverageConsumedWatts, not of the PowerConsumedWatts read here")
        if accuracy is None and "accuracy_pct" in info.extra:
            accuracy = float(info.extra["accuracy_pct"]) / 100
    facts = facts_for(
        config.type, averaging_s, config.interval_ms / 1000, accuracy, max(1, len(config.outlets))
    )
    advice = advise(facts, args.watts, args.seconds, args.target_pct / 100)
    for line in advice.lines:
        print(f"  {line}")
    return 0 if advice.can_meet else 1
