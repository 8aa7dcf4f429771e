"""``power-director sim redfish`` (an emulated BMC: sushy-tools' sushy-static on our mockup) and
``sim snmp`` (a rack PDU on Debian's snmpsimd)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.sim import redfish as redfish_sim
from analyzer_drivers.sim import snmp_pdu as snmp_sim
from analyzer_drivers.sim.faults import check_supported
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.redfish import BmcModel, RedfishSimulator
from analyzer_drivers.sim.snmp_pdu import Outlet, PduData, SnmpPduSimulator


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
            port = await asyncio.to_thread(simulator.start, args.port, args.tls_cert, args.tls_key)
        except RuntimeError as exc:
            raise AnalyzerError(str(exc)) from None
        scheme = "https" if args.tls_cert else "http"
        print(f"redfish BMC emulator on {scheme}://127.0.0.1:{port} (mockup {root})", flush=True)
        try:
            await _until_signalled()
        finally:
            simulator.close()


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
