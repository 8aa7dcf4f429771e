"""A loopback SCPI server that behaves like a Yokogawa WT300E meter (PROTOCOLS.md §5).

pyvisa-py opens it as ``TCPIP::127.0.0.1::<port>::SOCKET`` with ``\\n`` terminations.
Headers take short or long forms in any case (``:NUM:NORM:VAL?`` == ``:numeric:normal:value?``);
readings follow a PowerModel at the update interval; an input above 140 % of its range
reads over-range (9.9E+37); rejected commands go to the error queue (``:STAT:ERR?``).

Faults (``analyzer_drivers.sim.faults``) follow the meter's range mode: auto ranges are the
ranging phase, fixed ranges the testing phase; reads are ``:NUM:NORM:VAL?`` queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from analyzer_drivers.formats.ptd_line import format_sample_line
from analyzer_drivers.formats.sample import ERROR_READING, MISSED_SAMPLE, Sample
from analyzer_drivers.meters import (
    METERS,
    OVER_RANGE_FRACTION,
    WT300_UPDATE_INTERVALS_S,
    MeterSpec,
)
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
from analyzer_drivers.sim.models import CpuUtilisationModel, PowerModel, Reading
from analyzer_drivers.sim.scpi_syntax import (
    ScpiError,
    eng,
    match_header,
    nr3,
    parse_number,
    parse_on_off,
    undefined_header,
)
from analyzer_drivers.yokogawa import parse_values

log = logging.getLogger("power_director.sim.scpi")

MAX_ERRORS = 16
# ASCII numeric format: over-range INF, no data NAN (IM WT310E-17EN; 9.9E+37 and 9.91E+37 are
# the binary format's codes). PROTOCOLS.md §8.
OVER_RANGE_TEXT = "INF"
NO_DATA_TEXT = "NAN"
FUNCTIONS = ("U", "I", "P", "S", "Q", "LAMBDA")
SUM = "SIGMA"
VALUE_QUERY = ":NUMeric:NORMal:VALue"
REFUSED_FAULTS = {
    "clock-jump": "a WT300E's readings carry no timestamps (the director stamps them on arrival)",
}

#: *IDN? of each family member. Real ones: WT310E and WT333E (PTDaemon logs in
#: fixtures/real-submissions v2.0 Krai and v4.1 NVIDIA), WT333 with firmware F1.04EM (v3.0 Dell),
#: WT333 F1.01EM and WT310 (PROTOCOLS.md §8). The others follow their pattern (serials made up).
IDENTITIES = {
    "wt310": ("YOKOGAWA,WT310,C2PH13047V,F1.03", "WT310"),
    "wt310hc": ("YOKOGAWA,WT310HC,C2PH13048V,F1.03", "WT310HC"),
    "wt310e": ("YOKOGAWA,WT310E,C3XA04010E,F1.04", "WT310E"),
    "wt310eh": ("YOKOGAWA,WT310EH,C3XA04011E,F1.04", "WT310EH"),
    "wt330": ("YOKOGAWA,WT330,C2SF14010V,F1.01", "WT330"),
    "wt332": ("YOKOGAWA,WT332,C2SF14012V,F1.01EM", "WT332"),
    "wt333": ("YOKOGAWA,WT333,C2SF14011V,F1.01EM", "WT333"),
    "wt330e": ("YOKOGAWA,WT330E,C2XC17003V,F1.04", "WT330E"),
    "wt332e": ("YOKOGAWA,WT332E,C2XC17005V,F1.04", "WT332E"),
    "wt333e": ("YOKOGAWA,WT333E,C2XL24034V,F1.04", "WT333E"),
}
#: The crest factors a WT300E takes; A6 is 6A as the command writes it (inferred: the manual
#: names the setting "6A"; the driver reads either).
CREST_FACTORS = {"3": "3", "6": "6", "6A": "A6", "A6": "A6"}


# --- the meter -------------------------------------------------------------------------------
@dataclass
class _Inputs:
    crest_factor: str = "3"
    volts_range: float = 600.0
    amps_range: float = 20.0
    volts_auto: bool = True
    amps_auto: bool = True


@dataclass
class _Numeric:
    items: list[tuple[str, str]] = field(
        default_factory=lambda: [("U", "1"), ("I", "1"), ("P", "1"), ("S", "1"), ("Q", "1"),
                                 ("LAMBDA", "1")]
    )
    count: int = 6


class Wt300Simulator(LineServer):
    """The simulated meter: inputs, numeric items, update cycle, status and error queue."""

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
        super().__init__()
        if identity not in IDENTITIES:
            raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
        self.faults: list[Fault] = []
        for fault in faults or []:
            self.inject(fault)
        self.idn, spec_name = IDENTITIES[identity]
        self.spec: MeterSpec = METERS[spec_name]
        self.compat_mode = compat_mode or ("WT300E" if spec_name.endswith(("E", "EH")) else "WT300")
        self.model = model or CpuUtilisationModel()
        self.update_interval_s = self._power_on_interval_s = update_interval_s
        self.rate_auto = False
        self.inputs = _Inputs()
        self.numeric = _Numeric()
        self.header = True
        self.verbose = False
        self.remote = False
        self.filters: dict[int, str] = {}
        self.eesr = 0
        self.errors: deque[str] = deque(maxlen=MAX_ERRORS)
        self.updates = 0
        self.latest: dict[tuple[str, str], float] | None = None  # None: no data since a change
        self._latest_reading: tuple[int, Reading] | None = None
        self._served = PhaseCounter()
        # Each value reply as sent (its power item): what a client can have had, to check it kept them all.
        self._sent_file: TextIO | None = sent_log_path.open("a", encoding="utf-8") if sent_log_path else None
        self._updated = asyncio.Condition()
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

    @property
    def phase(self) -> str:
        """The phase a fault sees: auto ranges are ranging, fixed ranges testing."""
        return "ranging" if self.inputs.volts_auto and self.inputs.amps_auto else "testing"

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

    def _power_cycle(self) -> None:
        self._reset_settings()
        self.header, self.verbose, self.remote = True, False, False
        self.update_interval_s = self._power_on_interval_s
        self.errors.clear()
        self.eesr = 0

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

    # --- command dispatch -------------------------------------------------------------------
    async def handle(self, line: str) -> str | None:
        """Run one line (``;``-separated commands); the joined query replies, or None."""
        replies = []
        for command in filter(None, (part.strip() for part in line.split(";"))):
            try:
                reply = await self._run(command)
            except ScpiError as exc:
                self._push_error(exc)
                continue
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    async def _run(self, command: str) -> str | None:
        header, _, argument = command.partition(" ")
        query = header.endswith("?")
        header = header.rstrip("?")
        for pattern, handler in self._table():
            suffix = match_header(pattern, header)
            if suffix is not None:
                reply = await handler(suffix, query, argument.strip())
                if query and reply is not None and self.header and not pattern.startswith("*"):
                    return f"{pattern.upper().replace('#', str(suffix))} {reply}"
                return reply
        raise undefined_header()

    def _table(self) -> list[tuple[str, Callable[[int, bool, str], Awaitable[str | None]]]]:
        return [
            ("*IDN", self._idn),
            ("*CLS", self._cls),
            ("*RST", self._rst),
            (":COMMunicate:HEADer", self._setting("header", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:VERBose", self._setting("verbose", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:REMote", self._setting("remote", parse_on_off, lambda v: str(int(v)))),
            (":COMMunicate:WAIT", self._wait),
            (":NUMeric:FORMat", self._format),
            (":NUMeric:NORMal:NUMber", self._item_count),
            (":NUMeric:NORMal:ITEM#", self._item),
            (":NUMeric:NORMal:VALue", self._value),
            (":INPut:CFACtor", self._crest_factor),
            (":INPut:VOLTage:RANGe", self._range("V")),
            (":INPut:CURRent:RANGe", self._range("A")),
            (":INPut:VOLTage:AUTO", self._auto("V")),
            (":INPut:CURRent:AUTO", self._auto("A")),
            (":RATE", self._rate),
            (":SAMPle:RATE", self._rate),  # yoko-tool's form (intel/yoko-tool _yokobase.py)
            (":SYSTem:COMMunicate:COMMand", self._compat),
            (":STATus:FILTer#", self._filter),
            (":STATus:EESR", self._eesr),
            (":STATus:ERRor", self._error),
        ]

    def _push_error(self, error: ScpiError) -> None:
        self.errors.append(str(error))

    # --- handlers ---------------------------------------------------------------------------
    async def _idn(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        return self.idn

    async def _cls(self, suffix: int, query: bool, argument: str) -> str | None:
        self.errors.clear()
        self.eesr = 0
        return None

    async def _rst(self, suffix: int, query: bool, argument: str) -> str | None:
        self._reset_settings()
        return None

    def _reset_settings(self) -> None:
        self.inputs, self.numeric, self.filters = _Inputs(), _Numeric(), {}
        self._invalidate()

    def _setting(
        self, name: str, parse: Callable[[str], bool], show: Callable[[bool], str]
    ) -> Callable[[int, bool, str], Awaitable[str | None]]:
        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            if query:
                return show(getattr(self, name))
            setattr(self, name, parse(argument))
            return None

        return handler

    async def _wait(self, suffix: int, query: bool, argument: str) -> str | None:
        mask = int(parse_number(argument))
        async with self._updated:
            await self._updated.wait_for(lambda: bool(self.eesr & mask))
        return None

    async def _format(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return "ASCII"
        if argument.upper() not in ("ASC", "ASCII"):
            raise ScpiError(-224, "Illegal parameter value")  # FLOat is not simulated
        return None

    async def _item_count(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return str(self.numeric.count)
        count = int(parse_number(argument))
        if not 1 <= count <= 255:
            raise ScpiError(-222, "Data out of range")
        self.numeric.items += [("NONE", "1")] * (count - len(self.numeric.items))
        self.numeric.count = count
        return None

    async def _item(self, suffix: int, query: bool, argument: str) -> str | None:
        if not 1 <= suffix <= 255:
            raise undefined_header()
        self.numeric.items += [("NONE", "1")] * (suffix - len(self.numeric.items))
        if query:
            function, element = self.numeric.items[suffix - 1]
            return f"{function},{element}"
        self.numeric.items[suffix - 1] = self._parse_item(argument)
        return None

    def _parse_item(self, argument: str) -> tuple[str, str]:
        function, _, element = (p.strip().upper() for p in argument.partition(","))
        function = "LAMBDA" if function in ("LAMB", "LAMBDA") else function
        if function not in (*FUNCTIONS, "NONE"):
            raise ScpiError(-224, "Illegal parameter value")
        element = element or "1"
        if element not in (SUM, *(str(e) for e in self.spec.numbers)):
            raise ScpiError(-224, "Illegal parameter value")
        if element == SUM and self.spec.elements < 2:
            raise ScpiError(-224, "Illegal parameter value")
        return function, element

    async def _value(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        items = self.numeric.items[: self.numeric.count]
        if argument:
            index = int(parse_number(argument))
            if not 1 <= index <= self.numeric.count:
                raise ScpiError(-222, "Data out of range")
            items = [items[index - 1]]
        values = self._served_values()
        self._log_sent(values, items)
        return ",".join(self._item_text(values, item) for item in items)

    @staticmethod
    def _item_text(values: dict[tuple[str, str], float] | None, item: tuple[str, str]) -> str:
        if values is None or item not in values:
            return NO_DATA_TEXT
        value = values[item]
        if math.isinf(value):
            return OVER_RANGE_TEXT
        return NO_DATA_TEXT if math.isnan(value) else nr3(value)

    async def _crest_factor(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return self.inputs.crest_factor
        crest_factor = CREST_FACTORS.get(argument.strip().upper())
        if crest_factor is None:
            raise ScpiError(-224, "Illegal parameter value")
        # Changing the crest factor resets the ranges to the largest, auto off.
        self.inputs = _Inputs(crest_factor=crest_factor, volts_auto=False, amps_auto=False)
        spec = self._spec()
        self.inputs.volts_range = max(spec.volts_ranges)
        self.inputs.amps_range = max(spec.amps_ranges)
        self._invalidate()
        return None

    def _spec(self) -> MeterSpec:
        return self.spec.at_crest_factor(self.inputs.crest_factor)

    def _range(self, unit: str) -> Callable[[int, bool, str], Awaitable[str | None]]:
        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            attribute = "volts_range" if unit == "V" else "amps_range"
            if query:
                return eng(getattr(self.inputs, attribute))
            value = parse_number(argument, unit)
            ranges = self._spec().volts_ranges if unit == "V" else self._spec().amps_ranges
            if not any(math.isclose(value, r) for r in ranges):
                raise ScpiError(-222, "Data out of range")
            setattr(self.inputs, attribute, value)
            setattr(self.inputs, "volts_auto" if unit == "V" else "amps_auto", False)
            self._invalidate()
            return None

        return handler

    def _auto(self, unit: str) -> Callable[[int, bool, str], Awaitable[str | None]]:
        attribute = "volts_auto" if unit == "V" else "amps_auto"

        async def handler(suffix: int, query: bool, argument: str) -> str | None:
            if query:
                return str(int(getattr(self.inputs, attribute)))
            setattr(self.inputs, attribute, parse_on_off(argument))
            return None

        return handler

    async def _rate(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return "AUTO" if self.rate_auto else eng(self.update_interval_s)
        if argument.strip().upper() == "AUTO":  # the meter picks (IM WT310E-01EN "Data Update Interval")
            self.rate_auto = True
            return None
        seconds = parse_number(argument, "S")
        if not any(math.isclose(seconds, s) for s in WT300_UPDATE_INTERVALS_S):
            raise ScpiError(-222, "Data out of range")
        self.update_interval_s, self.rate_auto = seconds, False
        self._invalidate()
        return None

    async def _compat(self, suffix: int, query: bool, argument: str) -> str | None:
        if query:
            return self.compat_mode
        mode = argument.strip().upper()
        if mode not in ("WT200", "WT300", "WT300E"):
            raise ScpiError(-224, "Illegal parameter value")
        self.compat_mode = mode
        return None

    async def _filter(self, suffix: int, query: bool, argument: str) -> str | None:
        if not 1 <= suffix <= 16:
            raise undefined_header()
        if query:
            return self.filters.get(suffix, "NEVER")
        word = argument.strip().upper()
        forms = {"RISE": "RISE", "FALL": "FALL", "BOTH": "BOTH", "NEV": "NEVER", "NEVER": "NEVER"}
        if word not in forms:
            raise ScpiError(-224, "Illegal parameter value")
        self.filters[suffix] = forms[word]
        return None

    async def _eesr(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        value, self.eesr = self.eesr, 0
        return str(value)

    async def _error(self, suffix: int, query: bool, argument: str) -> str | None:
        if not query:
            raise undefined_header()
        return self.errors.popleft() if self.errors else '0,"No error"'

    # --- the update cycle ---------------------------------------------------------------------
    def _invalidate(self) -> None:
        self.latest = self._latest_reading = None

    async def _update_loop(self) -> None:
        next_s = time.monotonic()
        while True:
            slower = 2 if "wrong-rate" in data_faults(self.faults, self.phase) else 1
            next_s += self.update_interval_s * slower
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))
            await self._update(time.time_ns())

    async def _update(self, t_ns: int) -> None:
        reading = self.model.reading(t_ns)
        self.latest, self._latest_reading = self.values(reading), (t_ns, reading)
        self.updates += 1
        # Bit 0 of the extended event register: UPD; a data update completes on its falling edge.
        if self.filters.get(1, "NEVER") != "NEVER":
            self.eesr |= 1
        async with self._updated:
            self._updated.notify_all()

    def values(self, reading: Reading) -> dict[tuple[str, str], float]:
        """Every function of every element (and Σ) for a total reading split over the elements."""
        elements = self.spec.elements
        volts, amps, watts = reading.volts, reading.amps / elements, reading.watts / elements
        volts_over, amps_over = self._over_range(volts, amps)
        per_element = {
            "U": math.inf if volts_over else volts,
            "I": math.inf if amps_over else amps,
            "P": math.inf if volts_over or amps_over else watts,
            "S": volts * amps,
            "Q": volts * amps * math.sqrt(max(0.0, 1 - reading.pf**2)),
            "LAMBDA": reading.pf,
        }
        table = {(f, str(e)): v for e in self.spec.numbers for f, v in per_element.items()}
        if elements > 1:
            totals = ("P", "S", "Q")
            table.update(
                {(f, SUM): v * elements if f in totals else v for f, v in per_element.items()}
            )
        return table

    def _over_range(self, volts: float, amps: float) -> tuple[bool, bool]:
        spec = self._spec()
        volts_range = max(spec.volts_ranges) if self.inputs.volts_auto else self.inputs.volts_range
        amps_range = max(spec.amps_ranges) if self.inputs.amps_auto else self.inputs.amps_range
        if self.inputs.volts_auto:
            volts_range = next((r for r in sorted(spec.volts_ranges) if r >= volts), volts_range)
        if self.inputs.amps_auto:
            amps_range = next((r for r in sorted(spec.amps_ranges) if r >= amps), amps_range)
        # 280 % at crest factor 6A (IM WT310E-02EN 1.5 "Overrange Indication").
        fraction = OVER_RANGE_FRACTION * (2 if self.inputs.crest_factor == "A6" else 1)
        return volts > fraction * volts_range, amps > fraction * amps_range


async def serve_forever(simulator: Wt300Simulator, host: str, port: int) -> None:
    """Run a simulator until cancelled (the ``power-director sim scpi`` command)."""
    await serve_until_cancelled(
        lambda: simulator.start_server(host, port),
        lambda bound: f"SCPI (Yokogawa WT300E) simulator listening on {host}:{bound}: "
                      f"TCPIP::{host}::{bound}::SOCKET",
        simulator.close,
    )
