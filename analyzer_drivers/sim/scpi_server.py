"""A loopback SCPI server that behaves like a Yokogawa WT300E meter (docs/protocols.md#yokogawa-wt300).

pyvisa-py opens it as ``TCPIP::127.0.0.1::<port>::SOCKET`` with ``\\n`` terminations.
Readings follow a PowerModel at the update interval. The meter's state and readings are
``scpi_meter``'s, its command set ``scpi_commands``'; this module serves them and acts out faults.

Faults (``analyzer_drivers.sim.faults``) follow the meter's range mode: auto ranges are the
ranging phase, fixed ranges the testing phase; reads are ``:NUM:NORM:VAL?`` queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from pathlib import Path
from typing import TextIO

from analyzer_drivers.formats.ptd_line import format_sample_line
from analyzer_drivers.formats.sample import ERROR_READING, MISSED_SAMPLE, Sample
from analyzer_drivers.meters.yokogawa import parse_values
from analyzer_drivers.sim.faults import (
    GARBAGE,
    Fault,
    PhaseCounter,
    check_supported,
    data_faults,
    due_protocol_fault,
    spoil_all,
)
from analyzer_drivers.sim.line_server import MAX_LINE_BYTES, LineServer, serve_until_cancelled
from analyzer_drivers.sim.models import PowerModel, Reading
from analyzer_drivers.sim.scpi_commands import Wt300Commands
from analyzer_drivers.sim.scpi_meter import IDENTITIES as IDENTITIES
from analyzer_drivers.sim.scpi_syntax import ScpiError
from analyzer_drivers.sim.scpi_syntax import match_header as match_header

log = logging.getLogger("power_director.sim.scpi")

VALUE_QUERY = ":NUMeric:NORMal:VALue"
REFUSED_FAULTS = {
    "clock-jump": "a WT300E's readings carry no timestamps (the director stamps them on arrival)",
}


class Wt300Simulator(LineServer, Wt300Commands):
    """The simulated meter on a loopback socket, with its update cycle and faults."""

    cancel_clients_on_close = True  # a client may be blocked in :COMM:WAIT

    def __init__(
        self,
        model: PowerModel | None = None,
        identity: str = "wt310",
        update_interval_s: float = 0.25,
        faults: list[Fault] | None = None,
        sent_log_path: Path | None = None,
        compat_mode: str | None = None,
    ) -> None:
        """``compat_mode``: the command-set mode (WT200, WT300, WT300E) it powers on in; by
        default the model's own (WT300E for an E model)."""
        LineServer.__init__(self)
        Wt300Commands.__init__(self, model, identity, update_interval_s, compat_mode)
        self.faults: list[Fault] = []
        for fault in faults or []:
            self.inject(fault)
        self._served = PhaseCounter()
        # Each value reply as sent (its power item): what a client can have had, to check it kept them all.
        self._sent_file: TextIO | None = sent_log_path.open("a", encoding="utf-8") if sent_log_path else None
        self._updater: asyncio.Task[None] | None = None

    # --- server lifecycle -----------------------------------------------------------------
    async def start_server(self, host: str = "127.0.0.1", port: int = 0) -> int:
        bound_port = await self.listen(host, port)
        self._updater = asyncio.get_running_loop().create_task(self._update_loop())
        return bound_port

    async def close(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._updater
        await self.close_clients()
        if self._sent_file is not None:
            self._sent_file.close()
            self._sent_file = None

    def inject(self, fault: Fault) -> None:
        """Add a fault; ValueError for one a WT300E cannot have."""
        check_supported([fault], "SCPI", REFUSED_FAULTS)
        self.faults.append(fault)

    async def on_line_too_long(self, writer: asyncio.StreamWriter) -> None:
        self._push_error(ScpiError(-223, "Too much data"))

    async def on_line(self, line: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        fault = self._protocol_fault(line)
        if fault is not None:
            return await self._misbehave(fault, line, reader, writer)
        reply = await self.handle(line)
        if reply is not None:
            writer.write(reply.encode() + b"\n")
            await writer.drain()
        return True

    # --- faults ----------------------------------------------------------------------------------
    def _protocol_fault(self, line: str) -> str | None:
        """The protocol fault a value query meets, if one is due (each fires once)."""
        header = line.split(";", 1)[0].strip().partition(" ")[0]
        if not header.endswith("?") or match_header(VALUE_QUERY, header.rstrip("?")) is None:
            return None
        self._served.enter(self.phase)
        self._served.reads += 1
        return due_protocol_fault(self.faults, self._served.phase, self._served.reads)

    async def _misbehave(
        self, fault: str, line: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Act out a protocol fault instead of answering ``line``; False: the connection ends.

        ``drop`` closes it, ``restart`` also resets the meter to its power-on settings,
        ``hang`` never answers on it again, ``garbage`` answers junk, ``partial`` sends half
        the reply and closes.
        """
        if fault == "garbage":
            writer.write(GARBAGE.encode() + b"\n")
            await writer.drain()
            return True
        if fault == "hang":
            while await reader.read(MAX_LINE_BYTES):
                pass
        elif fault == "partial":
            items = self.numeric.items[: self.numeric.count]
            reply = ",".join(self._item_text(self.latest, item) for item in items)
            writer.write(reply[: len(reply) // 2].encode())
            await writer.drain()
        elif fault == "restart":
            self._power_cycle()
        return False

    def _served_values(self) -> dict[tuple[str, str], float] | None:
        """The values this reply reads: the latest update, spoiled by the phase's data faults."""
        self._served.enter(self.phase)
        self._served.samples += 1
        kinds = data_faults(self.faults, self.phase)
        if not kinds or self._latest_reading is None:
            return self.latest
        t_ns, reading = self._latest_reading
        sample = Sample(t_ns, reading.watts, reading.volts, reading.amps, reading.pf)
        spoiled = spoil_all(kinds, self._served.samples, sample)
        # The WT300E's own error values: an error reads over-range, a missed sample no data.
        watts = {ERROR_READING: math.inf, MISSED_SAMPLE: math.nan}.get(spoiled.watts, spoiled.watts)
        return self.values(Reading(watts, spoiled.volts, spoiled.amps, spoiled.pf))

    def _log_sent(self, values: dict[tuple[str, str], float] | None, items: list[tuple[str, str]]) -> None:
        power = next((item for item in items if item[0] == "P"), None)
        if self._sent_file is None or power is None:
            return
        watts = parse_values(self._item_text(values, power))[0]
        self._sent_file.write(format_sample_line(Sample(time.time_ns(), watts), self.phase) + "\n")
        self._sent_file.flush()

    # --- the update cycle ---------------------------------------------------------------------
    async def _update_loop(self) -> None:
        next_s = time.monotonic()
        while True:
            slower = 2 if "wrong-rate" in data_faults(self.faults, self.phase) else 1
            next_s += self.update_interval_s * slower
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))
            await self._update(time.time_ns())

async def serve_forever(simulator: Wt300Simulator, host: str, port: int) -> None:
    """Run a simulator until cancelled (the ``power-director sim scpi`` command)."""
    await serve_until_cancelled(
        lambda: simulator.start_server(host, port),
        lambda bound: f"SCPI (Yokogawa WT300E) simulator listening on {host}:{bound}: "
                      f"TCPIP::{host}::{bound}::SOCKET",
        simulator.close,
    )
