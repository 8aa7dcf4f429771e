"""``power-director sim redfish`` (an emulated BMC: sushy-tools' sushy-static on our mockup) and
``sim snmp`` (a rack PDU on Debian's snmpsimd)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from analyzer_drivers.base import AnalyzerError
from analyzer_drivers.sim import redfish as redfish_sim
from analyzer_drivers.sim import snmp_pdu as snmp_sim
from analyzer_drivers.sim.faults import check_supported
from analyzer_drivers.sim.line_server import serve_until_cancelled
from analyzer_drivers.sim.models import CpuUtilisationModel
from analyzer_drivers.sim.redfish import BmcModel, RedfishSimulator
from analyzer_drivers.sim.snmp_pdu import Outlet, PduData, SnmpPduSimulator


async def serve_redfish(args: argparse.Namespace) -> None:
    """Run until cancelled (``sim``'s SIGTERM/SIGINT handler cancels it)."""
    model = CpuUtilisationModel(idle_watts=args.idle_watts, dynamic_watts=args.dynamic_watts)
    bmc = BmcModel(model, args.offset_watts, args.gain, args.window_s, args.delay_s)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.mockup_dir or Path(tmp)
        simulator = RedfishSimulator(
            root, bmc, schema=args.schema, update_s=args.update_s, faults=args.fault,
            outage_s=args.outage_s, sent_log_path=args.sent_log,
        )
        scheme = "https" if args.tls_cert else "http"
        await _serve(lambda: simulator.start(args.port, args.tls_cert, args.tls_key), simulator.close,
                     lambda port: f"redfish BMC emulator on {scheme}://127.0.0.1:{port} (mockup {root})")


async def serve_snmp(args: argparse.Namespace) -> None:
    """Run until cancelled (``sim``'s SIGTERM/SIGINT handler cancels it)."""
    outlets = [Outlet(i.strip(), args.idle_watts, args.amplitude_watts) for i in args.outlets.split(",")]
    data = PduData(args.family, outlets, period_s=args.period_s)
    simulator = SnmpPduSimulator(
        data, v3_user=args.v3_user, v3_auth_key=args.v3_auth_key, v3_priv_key=args.v3_priv_key,
        faults=args.fault, outage_s=args.outage_s,
    )
    await _serve(lambda: simulator.start(args.port), simulator.close,
                 lambda port: f"{args.family} PDU emulator on udp 127.0.0.1:{port}: community / v3 "
                              f"context 'pdu', outlets {args.outlets}")


async def _serve(start: Callable[[], int], close: Callable[[], None], banner: Callable[[int], str]) -> None:
    """``serve_until_cancelled`` for an emulator that starts and stops a process of its own
    (blocking calls: run off the event loop). AnalyzerError when it cannot start."""

    async def started() -> int:
        try:
            return await asyncio.to_thread(start)
        except RuntimeError as exc:
            close()
            raise AnalyzerError(str(exc)) from None

    async def closed() -> None:
        close()

    await serve_until_cancelled(started, banner, closed)


def serve(args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    """``sim redfish`` or ``sim snmp``: the emulator as the coroutine that serves it.
    ValueError now for a fault it cannot have."""
    if args.simulator == "redfish":
        check_supported(args.fault, "redfish", redfish_sim.REFUSED, redfish_sim.SUPPORTED_EXTRA)
        return serve_redfish(args)
    check_supported(args.fault, "snmp", snmp_sim.REFUSED, ("stale", "counter-wrap"))
    return serve_snmp(args)
